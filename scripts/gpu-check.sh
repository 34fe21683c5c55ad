#!/usr/bin/env bash
# The GPU check in two halves: build a self-contained bundle on a machine with the CUDA toolkit (no GPU
# needed), run it on a machine with a GPU (no compiler, no headers, no source tree needed).
#
#   scripts/gpu-check.sh bundle OUTDIR                 build machine: builds and fills OUTDIR (<= 60 MiB)
#   OUTDIR/gpu-check.sh run [BUNDLEDIR] [RESULTDIR]    GPU machine: runs everything (<= 8 minutes)
#
# bundle: configures a relocatable, portable build (BUILD_DIR, default build-gpucheck/ in the source tree:
#   -DVLGRAPH_NATIVE=OFF, -DVLGRAPH_RELOCATABLE=ON, shared cudart, -Wl,--as-needed), builds every CUDA test
#   (tests/cuda/test_*.cu -> cuda_test_*), the GPU probe (cuda_gpu_probe), the vlgraph CLI and every GPU
#   benchmark (bench/*.cu, none today) with `nice -n 10` on JOBS (default 2) cores, and copies into OUTDIR:
#     bin/      the programs (RUNPATH $ORIGIN/../lib)        data/   the test data they read
#     bench/    GPU benchmarks (may be empty)                 lib/    non-CUDA shared libraries (Boost.Test, ...)
#     lib/compat/  libstdc++ and libgcc_s (used only where the GPU machine's are older than needed)
#     tools/compute-sanitizer/  when the toolkit has it and it fits in 60 MiB
#     gpu-check.sh (this script), MANIFEST (commit, flags, sizes, library needs)
#   The CUDA libraries (cudart, cublasLt, nccl) are not bundled: the run half finds them.
#   Fails when the bundle exceeds 60 MiB, when a program still has -march=native or a build-machine path.
#
# run: BUNDLEDIR defaults to the folder of this script, RESULTDIR to $OUT if set, else ./gpu-check-out.
#   Steps, each under its own timeout(1) and all under one 470 s deadline; a log per step in RESULTDIR/logs/
#   and one RESULTDIR/SUMMARY.txt (step, PASS/FAIL/SKIP, seconds, key figures):
#     libraries   find libcudart/libcublasLt/... (LD_LIBRARY_PATH, ldconfig, /usr/local/cuda*, python's
#                 nvidia/* and torch packages), check every program's libraries resolve; reports which
#     gpu         nvidia-smi and the bundled probe (device list, a tiny kernel); no GPU: prints
#                 "no GPU present", writes the summary and exits 2
#     test_*      every CUDA test with VLGRAPH_REQUIRE_CUDA=1 (a skip is a failure) and VLGRAPH_TEST_DATA
#                 (test_nccl_one_rank is the NCCL step: a communicator of one rank, ncclCommInitAll with one
#                 device, and a TP-1 run of the tiny checkpoint's logits against the run without one)
#     memcheck_*, racecheck_*   compute-sanitizer on the op tests (SKIP, said so, when it is absent)
#     cli_*       vlgraph encode / generate / logits --backend cuda on the tiny checkpoint, and
#                 vlgraph diff --backend cuda when `vlgraph --help` lists diff
#     bench_*     every bundled GPU benchmark (SKIP "none bundled" when there are none)
#   Exit status: 0 all passed (skips only where said), 1 a step failed, 2 no GPU present.
#
# Settings (environment): BUILD_DIR, JOBS, NICE (bundle); VLGRAPH_GPU_CHECK_CUDA_LIBS (a folder searched
#   first for the CUDA libraries), GPU_CHECK_DEADLINE (seconds, default 470), GPU_CHECK_DIFF_ARGS (the
#   arguments of `vlgraph diff`, default: --model DATA/tiny-qwen36 --image IMG --prompt "Describe this image." --backend cuda), GPU_CHECK_NVIDIA_SMI
#   (the nvidia-smi to ask, or "none"; for tests/gpu_check_without_gpu.sh) (run).
# Self-test only: VLGRAPH_GPU_CHECK_ALLOW_SHIM=1 lets `run` continue on the cudashim stand-in
#   (/work/shared/tools/cudashim: a counting libcudart with no GPU) to exercise the flow; results there are
#   meaningless, every step is marked SELFTEST and the run exits 3 — it is never a pass.
set -uo pipefail

die() { echo "gpu-check: $*" >&2; exit 1; }
script_path=$(readlink -f "${BASH_SOURCE[0]}")
max_bundle_bytes=$((60 * 1024 * 1024))

# What the CUDA tests and the CLI checks read (relative to tests/data).
data_files=(
  tiny-qwen36 tiny-qwen36-bf16
  golden/lm.safetensors golden/text_prompts.safetensors golden/vision.safetensors golden/preprocess.safetensors
  images/img_c_125x94.png
)
# Libraries that are never bundled: glibc's, and the CUDA runtime's (found on the GPU machine).
is_glibc() { case "$1" in linux-vdso.so*|ld-linux*|libc.so*|libm.so*|libmvec.so*|libpthread.so*|libdl.so*|librt.so*|libresolv.so*|libutil.so*|libanl.so*|libnsl.so*|libBrokenLocale.so*|libthread_db.so*) return 0;; esac; return 1; }
is_cuda() { case "$1" in libcuda.so*|libcudart.so*|libcublas*.so*|libnccl.so*|libnvJitLink.so*|libnvrtc*.so*|libcupti.so*|libnvidia-*.so*) return 0;; esac; return 1; }
is_compat() { case "$1" in libstdc++.so*|libgcc_s.so*) return 0;; esac; return 1; }

# ----------------------------------------------------------------------------------------------------
# bundle
# ----------------------------------------------------------------------------------------------------
bundle() {
  [ $# -eq 1 ] || die "usage: scripts/gpu-check.sh bundle OUTDIR"
  local src out build jobs nice_n
  src=$(cd "$(dirname "$script_path")/.." && pwd)
  [ -f "$src/tests/cuda/cuda_test_main.hpp" ] || die "bundle runs from a source checkout (scripts/gpu-check.sh)"
  out=$(mkdir -p "$1" && cd "$1" && pwd) || die "cannot create $1"
  [ -z "$(ls -A "$out")" ] || die "$out is not empty (give a new or empty folder)"
  build=${BUILD_DIR:-$src/build-gpucheck}
  jobs=${JOBS:-2}
  nice_n=${NICE:-10}
  local nvcc=${CUDACXX:-/usr/local/cuda/bin/nvcc}
  [ -x "$nvcc" ] || die "no nvcc at $nvcc: the bundle needs the CUDA toolkit"
  command -v cmake >/dev/null || die "cmake missing (scripts/install-deps.sh)"
  if ! command -v patchelf >/dev/null; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
      echo "gpu-check: installing patchelf"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq patchelf >/dev/null 2>&1 ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq patchelf >/dev/null; } ||
        echo "gpu-check: patchelf could not be installed: the run half's LD_LIBRARY_PATH alone will find lib/"
    fi
  fi

  local gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  [ -f "$build/CMakeCache.txt" ] && gen=()  # keep the generator of an existing build folder
  local flags=(-DCMAKE_BUILD_TYPE=Release -DVLGRAPH_NATIVE=OFF -DVLGRAPH_RELOCATABLE=ON
    -DCMAKE_CUDA_RUNTIME_LIBRARY=Shared -DVLGRAPH_BUILD_TESTS=ON -DVLGRAPH_BUILD_EXAMPLES=ON
    -DVLGRAPH_BUILD_BENCHMARKS=ON -DVLGRAPH_ENABLE_CUDA=ON "-DCMAKE_EXE_LINKER_FLAGS=-Wl,--as-needed"
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)
  echo "gpu-check: configuring $build"
  nice -n "$nice_n" cmake -S "$src" -B "$build" "${gen[@]}" "${flags[@]}" >"$out/.configure.log" 2>&1 ||
    { cat "$out/.configure.log" >&2; die "cmake configure failed"; }
  grep -q "CUDA backend programs ON" "$out/.configure.log" || die "the CUDA backend is not built (nvcc not usable?): see $out/.configure.log"

  local tests=() benches=() t
  for t in "$src"/tests/cuda/test_*.cu; do tests+=("cuda_$(basename "$t" .cu)"); done
  for t in "$src"/bench/*.cu; do [ -e "$t" ] && benches+=("$(basename "$t" .cu)"); done
  local targets=(cuda_gpu_probe vlgraph_cli "${tests[@]}" "${benches[@]}")
  echo "gpu-check: building ${targets[*]} (nice -n $nice_n, -j$jobs)"
  local t0=$SECONDS
  nice -n "$nice_n" cmake --build "$build" -j"$jobs" --target "${targets[@]}" >"$out/.build.log" 2>&1 ||
    { tail -40 "$out/.build.log" >&2; die "build failed (log: $out/.build.log)"; }
  local build_s=$((SECONDS - t0))
  echo "gpu-check: built in ${build_s} s"

  # Nothing that travels may be compiled for this machine's CPU.
  if grep -q -- "-march=native" "$build/compile_commands.json"; then die "-march=native in $build/compile_commands.json"; fi

  mkdir -p "$out/bin" "$out/bench" "$out/lib/compat" "$out/data" "$out/tools"
  local exe
  for t in cuda_gpu_probe "${tests[@]}"; do
    exe=$(find "$build/tests" -maxdepth 1 -type f -name "$t" | head -1)
    [ -n "$exe" ] || die "built program $t not found under $build/tests"
    cp "$exe" "$out/bin/"
  done
  cp "$build/bin/vlgraph" "$out/bin/vlgraph" || die "vlgraph not found in $build/bin"
  for t in "${benches[@]}"; do cp "$build/bin/$t" "$out/bench/" || die "benchmark $t not found in $build/bin"; done

  for t in "${data_files[@]}"; do
    mkdir -p "$out/data/$(dirname "$t")"
    cp -r "$src/tests/data/$t" "$out/data/$t" || die "test data $t missing"
  done

  # Shared libraries: everything ldd resolves that is neither glibc's nor CUDA's.
  local f lib name cuda_needed=() missing=()
  for f in "$out"/bin/* "$out"/bench/*; do
    [ -f "$f" ] || continue
    while read -r name _ lib _; do
      if [ "$lib" = "not" ]; then missing+=("$name ($(basename "$f"))"); continue; fi
      is_glibc "$name" && continue
      if is_cuda "$name"; then cuda_needed+=("$name"); continue; fi
      case "$lib" in /*) ;; *) continue;; esac
      if is_compat "$name"; then cp -L -n "$lib" "$out/lib/compat/$name"; else cp -L -n "$lib" "$out/lib/$name"; fi
    done < <(ldd "$f" | awk '/=>/ {print $1, $2, $3, $4}')
  done
  # libraries that only libraries need (e.g. libsharpyuv for libwebp) were in ldd's closure above
  [ ${#missing[@]} -eq 0 ] || echo "gpu-check: note: not found here (the run half must find them): ${missing[*]}"
  mapfile -t cuda_needed < <(printf '%s\n' "${cuda_needed[@]}" "${missing[@]%% *}" | grep -v '^$' | sort -u)

  local rpath_note="LD_LIBRARY_PATH only (no patchelf)"
  if command -v patchelf >/dev/null; then
    for f in "$out"/bin/* "$out"/bench/*; do [ -f "$f" ] && patchelf --set-rpath '$ORIGIN/../lib' "$f"; done
    for f in "$out"/lib/*.so* "$out"/lib/compat/*.so*; do [ -f "$f" ] && patchelf --set-rpath '$ORIGIN' "$f"; done
    rpath_note="RUNPATH \$ORIGIN/../lib (patchelf); lib/compat by the run half only when needed"
  fi

  # compute-sanitizer: bundled when the toolkit has it and the bundle stays within the limit.
  local cs_dir="" cs_note
  for d in "$(dirname "$nvcc")/../compute-sanitizer" /usr/local/cuda/compute-sanitizer; do
    [ -x "$d/compute-sanitizer" ] && { cs_dir=$(cd "$d" && pwd); break; }
  done
  if [ -z "$cs_dir" ]; then
    cs_note="not in the toolkit (no compute-sanitizer under $(dirname "$nvcc")/..): the run half uses the GPU machine's"
  else
    local cs_bytes now
    cs_bytes=$(du -sb "$cs_dir" | cut -f1)
    now=$(du -sb "$out" | cut -f1)
    if [ $((now + cs_bytes)) -le $max_bundle_bytes ]; then
      cp -r "$cs_dir" "$out/tools/compute-sanitizer"
      cs_note="bundled from $cs_dir ($((cs_bytes / 1024 / 1024)) MiB)"
    else
      cs_note="$cs_dir is $((cs_bytes / 1024 / 1024)) MiB: does not fit, the run half uses the GPU machine's"
    fi
  fi
  echo "gpu-check: compute-sanitizer: $cs_note"

  cp "$script_path" "$out/gpu-check.sh"
  chmod +x "$out/gpu-check.sh"
  mv "$out/.configure.log" "$out/.build.log" "$build/" 2>/dev/null

  # No build-machine path may travel in a program.
  local leaks=""
  for f in "$out"/bin/* "$out"/bench/*; do
    [ -f "$f" ] && grep -q -a -F "$src" "$f" && leaks+=" $(basename "$f")"
  done
  [ -z "$leaks" ] || die "programs contain the build path $src:$leaks (see strings | grep)"

  # What the programs need of the GPU machine's glibc and libstdc++.
  local glibc_need glibcxx_need
  glibc_need=$(cat "$out"/bin/* "$out"/bench/* "$out"/lib/*.so* 2>/dev/null | grep -a -o 'GLIBC_2\.[0-9]*' | sort -t. -k2 -n -u | tail -1)
  glibcxx_need=$(cat "$out"/bin/* "$out"/bench/* "$out"/lib/*.so* 2>/dev/null | grep -a -o 'GLIBCXX_3\.4\.[0-9]*' | sort -t. -k3 -n -u | tail -1)

  compile_command() {
    python3 - "$build/compile_commands.json" "$1" "$src" "$build" <<'PY' 2>/dev/null || echo "(compile_commands.json not readable)"
import json, sys
db, name, src, build = sys.argv[1:]
for c in json.load(open(db)):
    if c["file"].endswith(name):
        print(c["command"].replace(build, "<build>").replace(src, "<src>"))
        break
PY
  }
  local commit dirty total
  commit=$(git -C "$src" rev-parse HEAD 2>/dev/null || echo unknown)
  dirty=$(git -C "$src" status --porcelain --untracked-files=no 2>/dev/null | wc -l)
  total=$(du -sb "$out" | cut -f1)
  {
    echo "vlgraph GPU-check bundle"
    echo "commit: $commit$([ "$dirty" -gt 0 ] && echo " (+$dirty modified tracked files)")"
    echo "branch: $(git -C "$src" rev-parse --abbrev-ref HEAD 2>/dev/null)"
    echo "made: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -srm), $(nproc) cores"
    echo "toolkit: $("$nvcc" --version | grep -o 'release [0-9.]*, V[0-9.]*')"
    echo "host compiler: $(c++ --version | head -1)"
    echo "cmake flags: ${flags[*]}"
    echo "cuda architectures: $(sed -n 's/^VLGRAPH_CUDA_ARCHITECTURES:[A-Z]*=//p' "$build/CMakeCache.txt")"
    # one compile command per language, as run (<src>, <build>: the build machine's folders)
    echo "CUDA compile (cuda_test_ops_cuda): $(compile_command test_ops_cuda.cu)"
    echo "CXX compile (vlgraph main.cpp): $(compile_command vlgraph/main.cpp)"
    echo "link: $(sed -n 's/^CMAKE_EXE_LINKER_FLAGS:[A-Z]*=//p' "$build/CMakeCache.txt"), cudart $(sed -n 's/^CMAKE_CUDA_RUNTIME_LIBRARY:[A-Z]*=//p' "$build/CMakeCache.txt")"
    echo "build: ${build_s} s for ${#targets[@]} targets (nice -n $nice_n, -j$jobs; 0 s means already built in $build)"
    echo "rpath: $rpath_note"
    echo "compute-sanitizer: $cs_note"
    echo "needs cuda libraries: ${cuda_needed[*]}"
    echo "needs glibc: ${glibc_need:-none}"
    echo "needs libstdc++: ${glibcxx_need:-none}"
    echo "tests: ${tests[*]}"
    echo "benchmarks: ${benches[*]:-none}"
    echo "total bytes: $total ($((total / 1024 / 1024)) MiB of at most 60 MiB)"
    echo "files (bytes):"
    (cd "$out" && find . -type f ! -name MANIFEST -printf '  %s %P\n' | sort -k2)
  } >"$out/MANIFEST"
  total=$(du -sb "$out" | cut -f1)
  echo "gpu-check: bundle $out: $total bytes ($((total / 1024 / 1024)) MiB)"
  if [ "$total" -gt $max_bundle_bytes ]; then
    echo "gpu-check: ERROR: the bundle is $total bytes, over the 60 MiB ($max_bundle_bytes bytes) limit" >&2
    exit 1
  fi
  echo "gpu-check: copy $out to the GPU machine and run: $(basename "$out")/gpu-check.sh run"
}

# ----------------------------------------------------------------------------------------------------
# run
# ----------------------------------------------------------------------------------------------------
B="" R="" shim=0 deadline=0 failed=0 skipped=0 rows=()

now_s() { date +%s.%N; }
ldconfig_p() { { command -v ldconfig >/dev/null && ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null; }
elapsed() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }'; }
# record STEP RESULT SECONDS FIGURES
record() {
  local res=$2
  [ "$res" = FAIL ] && failed=$((failed + 1))
  [ "$res" = SKIP ] && skipped=$((skipped + 1))
  [ "$shim" = 1 ] && res="SELFTEST-$res"
  rows+=("$(printf '%-30s %-14s %7s  %s' "$1" "$res" "$3" "$4")")
  printf 'gpu-check: %-30s %-14s %7ss  %s\n' "$1" "$res" "$3" "$4"
}
write_summary() {
  local verdict=$1
  {
    echo "vlgraph GPU check — $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname 2>/dev/null || echo '?') ($(uname -srm))"
    echo "bundle: $B"
    [ -f "$B/MANIFEST" ] && sed -n 's/^\(commit\|made\|toolkit\|total bytes\): /  \1: /p' "$B/MANIFEST"
    echo "libraries:"
    printf '  %s\n' "${libs_report[@]:-none found}"
    [ -n "${gpu_info:-}" ] && printf 'gpu:\n%s\n' "$(sed 's/^/  /' <<<"$gpu_info")"
    echo
    printf '%-30s %-14s %7s  %s\n' step result seconds figures
    printf '%s\n' "${rows[@]}"
    echo
    echo "overall: $verdict"
  } >"$R/SUMMARY.txt"
}
left() { awk -v d="$deadline" -v n="$(date +%s)" 'BEGIN { print int(d - n) }'; }
# run_step NAME TIMEOUT COMMAND...: runs under timeout(1) (shrunk to the time left), log in logs/NAME.log;
# sets step_rc and step_s.
run_step() {
  local name=$1 limit=$2
  shift 2
  local remaining
  remaining=$(left)
  [ "$remaining" -lt "$limit" ] && limit=$remaining
  step_log="$R/logs/$name.log"
  if [ "$limit" -lt 5 ]; then
    step_rc=124 step_s=0
    echo "not run: the ${GPU_CHECK_DEADLINE:-470} s deadline of the whole check is reached" >"$step_log"
    return
  fi
  local t0
  t0=$(now_s)
  { echo "\$ $*"; echo "(timeout ${limit} s)"; } >"$step_log"
  timeout -k 5 "$limit" "$@" >>"$step_log" 2>&1 </dev/null
  step_rc=$?
  step_s=$(elapsed "$t0")
  echo "exit status $step_rc after $step_s s" >>"$step_log"
}
rc_note() { case "$1" in 0) echo "";; 124|137) echo "TIMEOUT; ";; *) echo "exit $1; ";; esac; }

# Boost.Test's result line, e.g. "94 of 94 test cases passed".
boost_figures() {
  local l
  l=$(grep -a -E "Test module .* (has passed|has failed)|test cases? out of|failed with" "$1" | head -3 | tr '\n' ' ')
  l=$(sed -E 's/\*\*\* No errors detected//; s/Test module "[^"]*" has (passed|failed) with: //; s/ +/ /g; s/ $//' <<<"$l")
  l=${l# }
  [ -n "$l" ] || l=$(grep -a -v '^\$\|^(timeout\|^exit status' "$1" | tail -2 | tr '\n' ' ')
  echo "${l:0:200}"
}

# Finds the folder holding NAME (a shared library) in the usual places; prints "DIR<tab>WHERE".
find_lib() {
  local name=$1 d
  if [ -n "${VLGRAPH_GPU_CHECK_CUDA_LIBS:-}" ] && [ -e "$VLGRAPH_GPU_CHECK_CUDA_LIBS/$name" ]; then
    printf '%s\t%s\n' "$VLGRAPH_GPU_CHECK_CUDA_LIBS" "VLGRAPH_GPU_CHECK_CUDA_LIBS"; return 0
  fi
  local dirs=()
  IFS=: read -r -a dirs <<<"${orig_ld_path:-}"
  for d in "${dirs[@]}"; do
    [ -n "$d" ] && [ -e "$d/$name" ] && { printf '%s\t%s\n' "$d" "LD_LIBRARY_PATH"; return 0; }
  done
  d=$(ldconfig_p | awk -v n="$name" '$1 == n && /x86-64/ {print $NF; exit}')
  [ -n "$d" ] && { printf '%s\t%s\n' "$(dirname "$d")" "ldconfig"; return 0; }
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-13*/lib64 /usr/local/cuda-13*/targets/x86_64-linux/lib /usr/local/cuda*/lib64 /usr/lib/x86_64-linux-gnu /usr/local/lib; do
    [ -e "$d/$name" ] && { printf '%s\t%s\n' "$d" "$d"; return 0; }
  done
  if command -v python3 >/dev/null; then
    local roots
    roots=$(timeout 30 python3 -c '
import site, sys, os
r = list(site.getsitepackages()) + [site.getusersitepackages()] + [p for p in sys.path if p.endswith("-packages")]
try:
    import importlib.util
    s = importlib.util.find_spec("torch")
    if s and s.origin: r.insert(0, os.path.dirname(os.path.dirname(s.origin)))
except Exception: pass
print("\n".join(dict.fromkeys(p for p in r if os.path.isdir(p))))' 2>/dev/null)
    local root hit
    while read -r root; do
      [ -n "$root" ] || continue
      hit=$(find "$root/nvidia" "$root/torch/lib" -maxdepth 4 -name "$name" 2>/dev/null | head -1)
      [ -n "$hit" ] && { printf '%s\t%s\n' "$(dirname "$hit")" "python packages ($root)"; return 0; }
    done <<<"$roots"
  fi
  return 1
}

run() {
  B=${1:-$(dirname "$script_path")}
  B=$(cd "$B" 2>/dev/null && pwd) || die "no bundle folder ${1:-}"
  R=${2:-${OUT:-./gpu-check-out}}
  mkdir -p "$R/logs" || die "cannot create $R"
  R=$(cd "$R" && pwd)
  [ "${VLGRAPH_GPU_CHECK_ALLOW_SHIM:-0}" = 1 ] && shim=1
  deadline=$(( $(date +%s) + ${GPU_CHECK_DEADLINE:-470} ))
  libs_report=()
  gpu_info=""
  [ -f "$B/MANIFEST" ] || echo "gpu-check: warning: $B has no MANIFEST (not made by 'gpu-check.sh bundle'?)"
  [ "$shim" = 1 ] && echo "gpu-check: VLGRAPH_GPU_CHECK_ALLOW_SHIM=1: SELF-TEST of the flow, results are meaningless and never a pass"
  command -v timeout >/dev/null || die "timeout(1) missing (coreutils)"

  # --- libraries -------------------------------------------------------------------------------------
  local t0 name found dir where progs=() p
  t0=$(now_s)
  orig_ld_path=${LD_LIBRARY_PATH:-}
  for p in "$B"/bin/* "$B"/bench/*; do [ -f "$p" ] && [ -x "$p" ] && progs+=("$p"); done
  local need=()
  [ -f "$B/MANIFEST" ] && read -r -a need < <(sed -n 's/^needs cuda libraries: //p' "$B/MANIFEST")
  [ ${#need[@]} -gt 0 ] || need=(libcudart.so.13)
  local ld_dirs=("$B/lib") lib_fail=0
  for name in "${need[@]}"; do
    if found=$(find_lib "$name"); then
      dir=${found%%$'\t'*} where=${found#*$'\t'}
      libs_report+=("$name: $dir (from $where)")
      [[ " ${ld_dirs[*]} " == *" $dir "* ]] || ld_dirs+=("$dir")
    else
      libs_report+=("$name: NOT FOUND (looked in VLGRAPH_GPU_CHECK_CUDA_LIBS, LD_LIBRARY_PATH, ldconfig, /usr/local/cuda*, python's nvidia/torch packages)")
      lib_fail=1
    fi
  done
  # libstdc++/libgcc_s: the GPU machine's unless older than what the programs need.
  local cxx_need sys_cxx
  cxx_need=$(sed -n 's/^needs libstdc++: //p' "$B/MANIFEST" 2>/dev/null)
  sys_cxx=$(ldconfig_p | awk '$1 == "libstdc++.so.6" && /x86-64/ {print $NF; exit}')
  if [ -d "$B/lib/compat" ] && [ -n "$(ls -A "$B/lib/compat" 2>/dev/null)" ]; then
    if [ -n "$cxx_need" ] && [ "$cxx_need" != none ] && { [ -z "$sys_cxx" ] || ! grep -a -q -F "$cxx_need" "$sys_cxx"; }; then
      ld_dirs=("$B/lib/compat" "${ld_dirs[@]}")
      libs_report+=("libstdc++.so.6: bundled (the system's ${sys_cxx:-none} lacks $cxx_need)")
    else
      libs_report+=("libstdc++.so.6: ${sys_cxx:-system} (has ${cxx_need:-what is needed})")
    fi
  fi
  local glibc_need glibc_have
  glibc_need=$(sed -n 's/^needs glibc: GLIBC_//p' "$B/MANIFEST" 2>/dev/null)
  glibc_have=$(ldd --version 2>/dev/null | head -1 | grep -o '[0-9]\+\.[0-9]\+$')
  if [ -n "$glibc_need" ] && [ -n "$glibc_have" ] && [ "$(printf '%s\n%s\n' "$glibc_need" "$glibc_have" | sort -V | head -1)" != "$glibc_need" ]; then
    libs_report+=("glibc: $glibc_have here, the programs need $glibc_need: they cannot start")
    lib_fail=1
  fi
  export LD_LIBRARY_PATH
  LD_LIBRARY_PATH=$(IFS=:; echo "${ld_dirs[*]}")${orig_ld_path:+:$orig_ld_path}
  # The cudashim stand-in is no GPU: refuse it unless this is the self-test.
  local cudart_dir
  cudart_dir=$(printf '%s\n' "${libs_report[@]}" | sed -n 's/^libcudart[^:]*: \(\/[^ ]*\) (from.*/\1/p' | head -1)
  if [ -n "$cudart_dir" ] && grep -a -q vlshim_report "$cudart_dir"/libcudart.so* 2>/dev/null; then
    libs_report+=("libcudart in $cudart_dir is the cudashim stand-in (counts calls, runs nothing)")
    [ "$shim" = 1 ] || { libs_report+=("refused: set VLGRAPH_GPU_CHECK_ALLOW_SHIM=1 only to self-test this script"); lib_fail=1; }
  fi
  local unresolved=""
  for p in "${progs[@]}"; do
    ldd "$p" 2>&1 | grep -q "not found" && unresolved+=" $(basename "$p"): $(ldd "$p" 2>&1 | awk '/not found/ {print $1}' | tr '\n' ' ')"
  done
  { printf '%s\n' "${libs_report[@]}"; echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"; for p in "${progs[@]}"; do echo "== ldd $p"; ldd "$p" 2>&1; done; } >"$R/logs/libraries.log"
  if [ -n "$unresolved" ]; then lib_fail=1; libs_report+=("unresolved:$unresolved"); fi
  if [ ${#progs[@]} -eq 0 ]; then lib_fail=1; libs_report+=("no programs in $B/bin"); fi
  if [ "$lib_fail" = 1 ]; then record libraries FAIL "$(elapsed "$t0")" "see logs/libraries.log${unresolved:+; unresolved:$unresolved}"
  else record libraries PASS "$(elapsed "$t0")" "${#progs[@]} programs resolve every library"; fi

  # --- gpu -------------------------------------------------------------------------------------------
  t0=$(now_s)
  local gpu=unknown smi="" probe_rc=""
  local smi_cmd=${GPU_CHECK_NVIDIA_SMI:-nvidia-smi}  # tests/gpu_check_without_gpu.sh: "none" or a fake
  if [ "$smi_cmd" != none ] && command -v "$smi_cmd" >/dev/null; then
    smi=$(timeout 30 "$smi_cmd" --query-gpu=index,name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1)
    local smi_rc=$?
    gpu_info="nvidia-smi: ${smi:-(nothing)}"
    if [ $smi_rc -ne 0 ] || ! grep -q , <<<"$smi"; then gpu=absent; else gpu=present; fi
  else
    gpu_info="nvidia-smi: not installed"
  fi
  local nodes
  nodes=$(ls /dev/nvidia[0-9]* 2>/dev/null | tr '\n' ' ')
  gpu_info+=$'\n'"/dev/nvidia*: ${nodes:-none}"
  if [ "$gpu" != absent ] && [ -x "$B/bin/cuda_gpu_probe" ] && [ "$lib_fail" = 0 ]; then
    run_step gpu_probe 30 "$B/bin/cuda_gpu_probe"
    probe_rc=$step_rc
    gpu_info+=$'\n'"$(grep -a '^probe:' "$step_log")"
    case $probe_rc in
      0) gpu=present ;;
      1) gpu=absent ;;
      *) [ "$shim" = 1 ] && gpu=present || gpu=broken ;;
    esac
  elif [ "$gpu" = unknown ]; then
    # no nvidia-smi and no probe to ask: the device nodes decide
    [ -n "$nodes" ] && gpu=broken || gpu=absent
    gpu_info+=$'\n'"probe: $([ -x "$B/bin/cuda_gpu_probe" ] && echo "not run: the libraries step failed" || echo "not in the bundle")"
  fi
  echo "$gpu_info" >"$R/logs/gpu.log"
  case $gpu in
    absent)
      record gpu FAIL "$(elapsed "$t0")" "no GPU present"
      echo "gpu-check: no GPU present ($(sed ':a;N;$!ba;s/\n/; /g' <<<"$gpu_info"))" >&2
      write_summary "FAIL: no GPU present"
      echo "gpu-check: summary in $R/SUMMARY.txt" >&2
      exit 2 ;;
    broken)
      if [ -n "$probe_rc" ]; then record gpu FAIL "$(elapsed "$t0")" "a GPU is listed but the probe failed (exit $probe_rc): see logs/gpu_probe.log"
      else record gpu FAIL "$(elapsed "$t0")" "cannot tell: /dev/nvidia* exists, but no nvidia-smi and no runnable probe (see logs/gpu.log)"; fi ;;
    *)
      local dev
      dev=$(grep -a -m1 'device 0:' <<<"$gpu_info" | sed 's/^probe: //')
      [ -n "$dev" ] || dev=$(head -1 <<<"$smi")
      record gpu PASS "$(elapsed "$t0")" "$dev" ;;
  esac

  export VLGRAPH_TEST_DATA="$B/data" VLGRAPH_REQUIRE_CUDA=1

  # --- CUDA tests ------------------------------------------------------------------------------------
  local tests=() n
  for p in "$B"/bin/cuda_test_*; do [ -x "$p" ] && tests+=("$p"); done
  if [ ${#tests[@]} -eq 0 ]; then record tests FAIL 0 "no cuda_test_* programs in $B/bin"; fi
  for p in "${tests[@]}"; do
    n=$(basename "$p")
    run_step "test_${n#cuda_test_}" 60 "$p" --log_level=test_suite --report_level=short
    if [ "$step_rc" = 0 ]; then record "test_${n#cuda_test_}" PASS "$step_s" "$(boost_figures "$step_log")"
    else record "test_${n#cuda_test_}" FAIL "$step_s" "$(rc_note "$step_rc")$(boost_figures "$step_log")"; fi
  done

  # --- compute-sanitizer -----------------------------------------------------------------------------
  local cs=""
  for p in "$B/tools/compute-sanitizer/compute-sanitizer" "$(command -v compute-sanitizer 2>/dev/null)" \
           /usr/local/cuda/compute-sanitizer/compute-sanitizer /usr/local/cuda-13*/compute-sanitizer/compute-sanitizer /usr/local/cuda*/bin/compute-sanitizer; do
    [ -n "$p" ] && [ -x "$p" ] && { cs=$p; break; }
  done
  local tool op
  for tool in memcheck racecheck; do
    for op in ops attention delta_rule; do
      p="$B/bin/cuda_test_${op}_cuda"
      if [ -z "$cs" ]; then record "${tool}_${op}" SKIP 0 "compute-sanitizer absent (not bundled, none on this machine)"; continue; fi
      if [ ! -x "$p" ]; then record "${tool}_${op}" FAIL 0 "$(basename "$p") not in the bundle"; continue; fi
      run_step "${tool}_${op}" 90 "$cs" --tool "$tool" --error-exitcode 1 --print-limit 20 "$p" --report_level=short
      local fig
      fig=$(grep -a -E "(ERROR|RACECHECK|LEAK) SUMMARY" "$step_log" | tail -1 | sed 's/^========= //')
      fig="${fig:-no sanitizer summary}; $(boost_figures "$step_log")"
      if [ "$step_rc" = 0 ]; then record "${tool}_${op}" PASS "$step_s" "${fig:0:200}"
      else record "${tool}_${op}" FAIL "$step_s" "$(rc_note "$step_rc")${fig:0:200}"; fi
    done
  done
  [ -n "$cs" ] && libs_report+=("compute-sanitizer: $cs")

  # --- CLI on the tiny checkpoint --------------------------------------------------------------------
  local cli="$B/bin/vlgraph" model="$B/data/tiny-qwen36" img="$B/data/images/img_c_125x94.png"
  mkdir -p "$R/cli"
  if [ ! -x "$cli" ]; then
    record cli FAIL 0 "bin/vlgraph not in the bundle"
  else
    run_step cli_encode 60 "$cli" encode --model "$model" --image "$img" --out "$R/cli/image_embeds.safetensors" --backend cuda
    cli_record cli_encode
    run_step cli_generate 90 "$cli" generate --model "$model" --image "$img" --prompt "Describe this image." --max-new-tokens 16 --greedy --backend cuda
    cli_record cli_generate
    run_step cli_logits 60 "$cli" logits --model "$model" --prompt "Describe this image." --out "$R/cli/logits.safetensors" --backend cuda
    cli_record cli_logits
    if "$cli" --help 2>&1 | grep -q -E '^ *vlgraph diff'; then
      # The bf16 prefill of an image prompt against the CPU oracle, node by node (docs/numerics.md).
      if [ -n "${GPU_CHECK_DIFF_ARGS:-}" ]; then
        local diff_args
        read -r -a diff_args <<<"$GPU_CHECK_DIFF_ARGS"
        run_step cli_diff 90 "$cli" diff "${diff_args[@]}"
      else
        run_step cli_diff 90 "$cli" diff --model "$model" --image "$img" --prompt "Describe this image." --backend cuda
      fi
      cli_record cli_diff
    else
      record cli_diff SKIP 0 "'vlgraph --help' lists no diff command in this build"
    fi
  fi

  # --- GPU benchmarks --------------------------------------------------------------------------------
  local benches=()
  for p in "$B"/bench/*; do [ -f "$p" ] && [ -x "$p" ] && benches+=("$p"); done
  if [ ${#benches[@]} -eq 0 ]; then
    record bench SKIP 0 "no GPU benchmarks in this bundle (none in bench/*.cu)"
  fi
  for p in "${benches[@]}"; do
    n=$(basename "$p")
    run_step "bench_${n#bench_}" 120 "$p"
    if [ "$step_rc" = 0 ]; then record "bench_${n#bench_}" PASS "$step_s" "$(tail_figures "$step_log")"
    else record "bench_${n#bench_}" FAIL "$step_s" "$(rc_note "$step_rc")$(tail_figures "$step_log")"; fi
  done

  local verdict
  if [ "$shim" = 1 ]; then
    verdict="SELF-TEST on the cudashim stand-in: NOT A PASS ($failed failed, $skipped skipped; values are meaningless there)"
  elif [ "$failed" -gt 0 ]; then
    verdict="FAIL ($failed failed, $skipped skipped)"
  else
    verdict="PASS ($skipped skipped)"
  fi
  write_summary "$verdict"
  echo "gpu-check: overall: $verdict"
  echo "gpu-check: summary in $R/SUMMARY.txt, logs in $R/logs/"
  [ "$shim" = 1 ] && exit 3
  [ "$failed" -eq 0 ]
}

# The last lines of a program's output (its figures), without the step's own lines.
tail_figures() {
  grep -a -v '^\$ \|^(timeout\|^exit status' "$1" | grep -a -v '^[[:space:]]*$' | tail -3 | tr '\n' ' ' | sed -E 's/ +/ /g' | cut -c1-200
}
cli_record() {
  if [ "$step_rc" = 0 ]; then record "$1" PASS "$step_s" "$(tail_figures "$step_log")"
  else record "$1" FAIL "$step_s" "$(rc_note "$step_rc")$(tail_figures "$step_log")"; fi
}

case "${1:-}" in
  bundle) shift; bundle "$@" ;;
  run) shift; run "$@" ;;
  *) sed -n '2,/^set -uo/p' "$script_path" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
