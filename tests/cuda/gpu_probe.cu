// tests/cuda/gpu_probe.cu — the GPU check's first step (scripts/gpu-check.sh run): prints the CUDA
// driver and runtime versions and every device, runs one tiny kernel on device 0 and checks its result.
// Exit 0 when that worked; 1 with "no GPU present" when cudaGetDeviceCount reports no device or no
// driver; 2 for any other CUDA error. Not a CTest test (it would fail on every machine without a GPU).
// The version and property queries are looked up with dlsym, so the probe also starts on the cudashim
// stand-in (which has only the calls the project makes); there the kernel's values come out wrong (exit 2).
#include <cuda_runtime.h>

#include <dlfcn.h>

#include <cstdio>

namespace {

__global__ void iota(int* out, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = 3 * i + 1;
}

int fail(const char* what, cudaError_t e) {
    std::printf("probe: %s failed: %s (%d: %s)\n", what, cudaGetErrorName(e), static_cast<int>(e), cudaGetErrorString(e));
    return 2;
}

}  // namespace

template <class F>
F optional_call(const char* name) {
    return reinterpret_cast<F>(dlsym(RTLD_DEFAULT, name));
}

int main() {
    int driver = 0, runtime = 0;
    using version_fn = cudaError_t (*)(int*);
    if (auto f = optional_call<version_fn>("cudaDriverGetVersion")) f(&driver);
    if (auto f = optional_call<version_fn>("cudaRuntimeGetVersion")) f(&runtime);
    std::printf("probe: driver API %d, runtime %d (0: not known)\n", driver, runtime);
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver || (e == cudaSuccess && n == 0)) {
        std::printf("probe: no GPU present (cudaGetDeviceCount: %s)\n", e == cudaSuccess ? "0 devices" : cudaGetErrorName(e));
        return 1;
    }
    if (e != cudaSuccess) return fail("cudaGetDeviceCount", e);
    std::printf("probe: devices %d\n", n);
    using props_fn = cudaError_t (*)(cudaDeviceProp*, int);
    auto props = optional_call<props_fn>("cudaGetDeviceProperties");  // CUDA 13; 12.x exports _v2
    if (!props) props = optional_call<props_fn>("cudaGetDeviceProperties_v2");
    for (int d = 0; d < n; ++d) {
        cudaDeviceProp p{};
        if (props) {
            if (const cudaError_t pe = props(&p, d); pe != cudaSuccess) return fail("cudaGetDeviceProperties", pe);
        } else {
            std::snprintf(p.name, sizeof p.name, "(name not known)");
            cudaDeviceGetAttribute(&p.major, cudaDevAttrComputeCapabilityMajor, d);
            cudaDeviceGetAttribute(&p.minor, cudaDevAttrComputeCapabilityMinor, d);
            cudaDeviceGetAttribute(&p.multiProcessorCount, cudaDevAttrMultiProcessorCount, d);
        }
        std::printf("probe: device %d: %s, sm_%d%d, %d SMs, %.1f GiB\n", d, p.name, p.major, p.minor, p.multiProcessorCount,
                    static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
    }
    constexpr int count = 1000;
    int* dev = nullptr;
    if (const cudaError_t me = cudaMalloc(&dev, count * sizeof(int)); me != cudaSuccess) return fail("cudaMalloc", me);
    iota<<<(count + 255) / 256, 256>>>(dev, count);
    if (const cudaError_t ke = cudaGetLastError(); ke != cudaSuccess) return fail("kernel launch", ke);
    static int host[count];
    if (const cudaError_t ce = cudaMemcpy(host, dev, sizeof host, cudaMemcpyDeviceToHost); ce != cudaSuccess) return fail("cudaMemcpy", ce);
    cudaFree(dev);
    int wrong = 0;
    for (int i = 0; i < count; ++i) wrong += host[i] != 3 * i + 1;
    std::printf("probe: kernel on device 0: %s (%d of %d values wrong)\n", wrong ? "WRONG" : "ok", wrong, count);
    return wrong ? 2 : 0;
}
