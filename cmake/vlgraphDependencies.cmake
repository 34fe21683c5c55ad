# Finds what vlgraph needs. Used both by the build and by the installed
# vlgraphConfig.cmake (so it must not depend on project() variables).
include(CMakeFindDependencyMacro)
find_package(Threads REQUIRED)
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(nlohmann_json 3 REQUIRED)

# stb ships no CMake package on Debian: find the header and wrap it in a target.
if(NOT TARGET vlgraph_stb)
  find_path(VLGRAPH_STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb REQUIRED)
  add_library(vlgraph_stb INTERFACE IMPORTED)
  set_target_properties(vlgraph_stb PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${VLGRAPH_STB_INCLUDE_DIR}")
endif()

# Libraries Debian ships without CMake packages: find the header and the library and
# wrap them in an imported target (this also runs from the installed config).
#   libwebp: WebP decoding; libjpeg-turbo (libjpeg62-turbo-dev): JPEG decoding, as PIL (vlgraph/image/decode.hpp)
#   PCRE2 (8-bit), utf8proc: the tokenizer's split regex and NFC (vlgraph/text/)
function(vlgraph_find_system_library target header library)
  if(NOT TARGET ${target})
    string(TOUPPER ${target} _var)
    find_path(${_var}_INCLUDE_DIR ${header} REQUIRED)
    find_library(${_var}_LIBRARY ${library} REQUIRED)
    add_library(${target} INTERFACE IMPORTED)
    set_target_properties(${target} PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${${_var}_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "${${_var}_LIBRARY}")
  endif()
endfunction()
vlgraph_find_system_library(vlgraph_webp webp/decode.h webp)
vlgraph_find_system_library(vlgraph_jpeg jpeglib.h jpeg)
vlgraph_find_system_library(vlgraph_pcre2 pcre2.h pcre2-8)
vlgraph_find_system_library(vlgraph_utf8proc utf8proc.h utf8proc)

# The CUDA toolkit is optional: vlgraph::cuda only links it when it is found.
set(VLGRAPH_HAVE_CUDA_TOOLKIT OFF)
if(NOT DEFINED CUDAToolkit_ROOT AND EXISTS /usr/local/cuda)
  set(CUDAToolkit_ROOT /usr/local/cuda)
endif()
find_package(CUDAToolkit QUIET)
if(CUDAToolkit_FOUND AND TARGET CUDA::cublasLt)
  set(VLGRAPH_HAVE_CUDA_TOOLKIT ON)
  if(NOT TARGET vlgraph_nccl)
    find_path(VLGRAPH_NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS})
    find_library(VLGRAPH_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR})
    if(VLGRAPH_NCCL_INCLUDE_DIR AND VLGRAPH_NCCL_LIBRARY)
      add_library(vlgraph_nccl INTERFACE IMPORTED)
      set_target_properties(vlgraph_nccl PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${VLGRAPH_NCCL_INCLUDE_DIR}"
        INTERFACE_LINK_LIBRARIES "${VLGRAPH_NCCL_LIBRARY}"
        INTERFACE_COMPILE_DEFINITIONS VLGRAPH_HAVE_NCCL=1)
    endif()
  endif()
endif()
