# Every third-party dependency is found here, once, with find_package, so a CMAKE_PREFIX_PATH that
# points at another LibTorch (a CUDA build, say) is honoured without edits.

find_package(Torch REQUIRED)
find_package(Threads REQUIRED)
find_package(ZLIB REQUIRED)
find_package(PNG REQUIRED)
# fmt is used header-only (fmt::fmt-header-only): a LibTorch built with the pre-C++11 string ABI
# makes every target compile with -D_GLIBCXX_USE_CXX11_ABI=0, and Debian's compiled libfmt (C++11
# ABI) would then fail to link.
find_package(fmt REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
# Needed by the network, storage and coordinator libraries; found now so a missing package is
# reported at configure time, not half-way through a later build.
find_package(Boost 1.74 REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(Protobuf REQUIRED)
find_package(SQLite3 REQUIRED)
# Configuration files of the coordinator and client (header-only).
find_package(tomlplusplus REQUIRED)
# JSON written into the round history (header-only).
find_package(nlohmann_json 3 REQUIRED)
if(FEDGAN_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

# One interface target carries LibTorch's libraries and its compile flags (notably
# -D_GLIBCXX_USE_CXX11_ABI), so every target that touches torch agrees on the C++ ABI.
add_library(fedgan_torch INTERFACE)
add_library(fedgan::torch ALIAS fedgan_torch)
target_link_libraries(fedgan_torch INTERFACE ${TORCH_LIBRARIES})
separate_arguments(FEDGAN_TORCH_CXX_FLAGS UNIX_COMMAND "${TORCH_CXX_FLAGS}")
target_compile_options(fedgan_torch INTERFACE ${FEDGAN_TORCH_CXX_FLAGS})

# Warnings for code we write; third-party headers come in as system includes.
add_library(fedgan_warnings INTERFACE)
add_library(fedgan::warnings ALIAS fedgan_warnings)
target_compile_options(fedgan_warnings INTERFACE -Wall -Wextra -Wno-unused-parameter)

# LibTorch's headers cost ~15 s per translation unit; every torch-heavy target reuses the
# precompiled header of fedgan_gan_data instead of parsing them again.
# A fuzzing build instruments some of these targets with sanitizers, and clang refuses a PCH
# built with other sanitizer settings: there every target builds its own.
function(fedgan_torch_pch target)
  if(FEDGAN_BUILD_FUZZERS)
    target_precompile_headers(${target} PRIVATE ${PROJECT_SOURCE_DIR}/gan/pch.h)
  elseif(TARGET fedgan_gan_data AND NOT "${target}" STREQUAL "fedgan_gan_data")
    target_precompile_headers(${target} REUSE_FROM fedgan_gan_data)
  else()
    target_precompile_headers(${target} PRIVATE ${PROJECT_SOURCE_DIR}/gan/pch.h)
  endif()
endfunction()
