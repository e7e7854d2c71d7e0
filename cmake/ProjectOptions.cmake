# Compiler settings shared by every target of the project.
add_library(sto_options INTERFACE)
# Designated initializers leave the other members at their defaults on purpose.
target_compile_options(sto_options INTERFACE -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
# GCC 12 reports false -Wrestrict positives inside std::string (GCC PR 105651).
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(sto_options INTERFACE -Wno-restrict)
  # ... and false -Wmismatched-new-delete on coroutine frames (GCC PR 109224).
  target_compile_options(sto_options INTERFACE -Wno-mismatched-new-delete)
endif()
if(STO_WERROR)
  target_compile_options(sto_options INTERFACE -Werror)
endif()
target_compile_definitions(sto_options INTERFACE
  BOOST_ASIO_NO_DEPRECATED
  BOOST_BEAST_USE_STD_STRING_VIEW
  STO_VERSION="${PROJECT_VERSION}")

if(STO_SANITIZE)
  set(_sto_san -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_compile_options(sto_options INTERFACE ${_sto_san})
  target_link_options(sto_options INTERFACE ${_sto_san})
endif()

# Coverage for libFuzzer in every library, and the sanitizers that turn a bad
# input into a crash; the fuzz targets link -fsanitize=fuzzer themselves.
if(STO_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "STO_FUZZ needs clang (CXX=clang++-14)")
  endif()
  # -fsanitize=function breaks clang 14 on coroutines ("Cannot represent a
  # difference across sections"); the rest of UBSan stays.
  set(_sto_fuzz_san -fsanitize=address,undefined -fno-sanitize=function -fno-sanitize-recover=all
                    -fno-omit-frame-pointer)
  target_compile_options(sto_options INTERFACE ${_sto_fuzz_san} -fsanitize=fuzzer-no-link)
  target_link_options(sto_options INTERFACE ${_sto_fuzz_san})
  # Line tables are enough for crash reports, and much cheaper to build.
  target_compile_options(sto_options INTERFACE -gline-tables-only)
endif()
