# Flags for vlgraph's own programs (tests, examples, benchmarks); the library
# targets carry none, so users keep theirs.
if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release CACHE STRING "" FORCE)
endif()
add_library(vlgraph_build_flags INTERFACE)
target_compile_options(vlgraph_build_flags INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter>)
if(VLGRAPH_NATIVE)
  target_compile_options(vlgraph_build_flags INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-march=native>
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-march=native>)
endif()
# The sanitizer build (scripts/sanitize.sh): every error is fatal, so a test cannot pass over one.
if(VLGRAPH_SANITIZE)
  target_compile_options(vlgraph_build_flags INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer>)
  target_link_options(vlgraph_build_flags INTERFACE $<$<LINK_LANGUAGE:CXX>:-fsanitize=address,undefined>)
endif()
# Relocatable programs (the GPU-check bundle): __FILE__ and debug info name files relative to the
# source tree, never by the build machine's absolute path.
if(VLGRAPH_RELOCATABLE)
  target_compile_options(vlgraph_build_flags INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-ffile-prefix-map=${PROJECT_SOURCE_DIR}/=>
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-ffile-prefix-map=${PROJECT_SOURCE_DIR}/=>)
endif()

# CUDA: nvcc at /usr/local/cuda, compiled for VLGRAPH_CUDA_ARCHITECTURES.
set(VLGRAPH_CUDA_BUILD OFF)
if(VLGRAPH_ENABLE_CUDA AND VLGRAPH_HAVE_CUDA_TOOLKIT)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS ${CUDAToolkit_ROOT}/bin/nvcc)
    set(CMAKE_CUDA_COMPILER ${CUDAToolkit_ROOT}/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(CMAKE_CUDA_ARCHITECTURES ${VLGRAPH_CUDA_ARCHITECTURES})
    # CMake 3.25 knows no CUDA20 dialect flag for nvcc: pass the standard directly.
    string(APPEND CMAKE_CUDA_FLAGS " -std=c++20")
    enable_language(CUDA)
    set(VLGRAPH_CUDA_BUILD ON)
  endif()
endif()
message(STATUS "vlgraph: CUDA backend programs ${VLGRAPH_CUDA_BUILD} (toolkit ${VLGRAPH_HAVE_CUDA_TOOLKIT})")
