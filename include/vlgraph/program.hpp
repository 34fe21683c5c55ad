// vlgraph/program.hpp — record once, run many.
//
//     vl::program<vl::cpu::executor> step = vl::program<vl::cpu::executor>::record(cpu, [&](auto& exec) {
//         logits = vl::eval(model_step(weights, inputs, cache), exec);     // any sequence of evals
//     });
//     for (...) { write the inputs; step.run(); read logits; }
//
// A fragment — any code that evaluates expressions on an executor: several vl::evals, tensors made with
// exec.make_tensor, in-place updates of caches and states — is recorded once into a program: its launches
// in order over one arena planned for the whole fragment (vlgraph/recording.hpp). run() replays them: no
// template walk, no planning, no allocation, no host synchronisation (CPU: the launches run in order;
// CUDA: they are captured into one CUDA graph on the first run, then every run is one graph launch,
// queued on the executor's stream). The same lowerings serve eager vl::eval and programs, so a replay
// computes exactly what eager evaluation of the fragment computes.
//
// What a program reads at run time is memory: tensors bound into it (weights, caches, the recurrent
// states it updates in place, the step's inputs) are read where they lie, every run. So what changes from
// step to step (token ids, positions, cache lengths) lives in tensors the caller rewrites between runs:
// on the CPU any host tensor; on CUDA a device tensor, or a pinned host tensor (exec.make_staging) that
// the program copies up as its first work. A pageable host tensor bound into a CUDA program is a constant:
// it is uploaded once, when recorded. Tensors the fragment makes with exec.make_tensor live in the
// program's arena; those the fragment keeps (its outputs) stay valid — rewritten by every run — as long as
// the program lives.
//
// The fragment runs twice while recording (a sizing pass, then the recording pass): it must make the same
// calls both times and leave nothing changed on the host that it reads again (a cache length, say) —
// let the caller advance such things after each run.
#pragma once

#include <vlgraph/eval.hpp>
#include <vlgraph/recording.hpp>

#include <memory>
#include <utility>

namespace vl {

template <class Executor>
class program {
public:
    program() = default;

    // Records `fragment(exec)`. Returns the program; what the fragment keeps (tensors it captured by
    // reference, say) is its output.
    template <class Fragment>
    static program record(Executor& exec, Fragment&& fragment) {
        if (exec.recording) throw error("vl::program: the executor is already recording a program");
        program p;
        p.exec_ = &exec;
        p.rec_ = std::make_shared<recording>([&exec](std::size_t bytes) { return exec.allocate(bytes); });
        struct restore {
            Executor& e;
            ~restore() { e.recording = nullptr; }
        } guard{exec};
        exec.recording = p.rec_.get();
        fragment(exec);  // sizing pass: blocks and lifetimes
        p.rec_->place();  // (the sizing pass ran no eval's launching pass: nothing was appended)
        fragment(exec);   // recording pass
        p.rec_->finish();
        return p;
    }

    // Replays the program (queued on the executor's stream on CUDA: read results through exec.to_host).
    void run() {
        if (!rec_) throw error("vl::program::run: nothing was recorded");
        exec_->replay(rec_->launches, replay_);
    }

    std::size_t launch_count() const { return rec_ ? rec_->launches.size() : 0; }
    std::size_t arena_bytes() const { return rec_ ? rec_->arena_bytes() : 0; }

private:
    Executor* exec_ = nullptr;
    std::shared_ptr<recording> rec_;
    typename Executor::replay_state replay_;
};

}  // namespace vl
