# Replays every fuzz seed (tests/fuzz/corpus/<target>/*) and every kept crash
# (tests/fuzz/regressions/<target>/*) through its fuzz target, as a normal program built by any
# compiler in any preset. Included from tests/CMakeLists.txt:
#   include(${CMAKE_CURRENT_SOURCE_DIR}/fuzz/replay.cmake)
# Under the asan-ubsan preset this is where a regression's memory error shows up in CI.
set(LAYERLEAK_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})

add_executable(layerleak_fuzz_replay
  ${LAYERLEAK_FUZZ_DIR}/replay.cpp
  ${LAYERLEAK_FUZZ_DIR}/fuzz_image_json.cpp
  ${LAYERLEAK_FUZZ_DIR}/fuzz_image_source.cpp
  ${LAYERLEAK_FUZZ_DIR}/fuzz_layer_stream.cpp
  ${LAYERLEAK_FUZZ_DIR}/fuzz_rules_loader.cpp
  ${LAYERLEAK_FUZZ_DIR}/fuzz_detector.cpp
  ${LAYERLEAK_FUZZ_DIR}/fuzz_registry.cpp
  ${LAYERLEAK_FUZZ_DIR}/fuzz_serve_wire.cpp
  ${LAYERLEAK_FUZZ_DIR}/fuzz_layer_codec.cpp
  ${LAYERLEAK_FUZZ_DIR}/fuzz_git_pack.cpp)
# Each target's LLVMFuzzerTestOneInput becomes layerleak_fuzz_<target> (see fuzz_entry.h).
target_compile_definitions(layerleak_fuzz_replay PRIVATE LAYERLEAK_FUZZ_REPLAY=1)
target_include_directories(layerleak_fuzz_replay PRIVATE ${LAYERLEAK_FUZZ_DIR} ${LAYERLEAK_FUZZ_DIR}/../../oci/src)
target_link_libraries(layerleak_fuzz_replay PRIVATE layerleak::core layerleak::oci layerleak::rules
                      layerleak::archive layerleak::detect layerleak::serve layerleak::cache
                      nlohmann_json::nlohmann_json)
target_compile_features(layerleak_fuzz_replay PRIVATE cxx_std_20)
layerleak_set_warnings(layerleak_fuzz_replay)
# Why test-code flags and a precompiled header: the harnesses only feed bytes to the libraries, which keep
# their optimisation and sanitizers (a memory error in a parser is still caught there); built -O3 the
# harnesses took about 150 CPU-seconds of each build, json.hpp parsed by most of them.
target_compile_options(layerleak_fuzz_replay PRIVATE ${LAYERLEAK_TEST_CODE_FLAGS})
target_precompile_headers(layerleak_fuzz_replay PRIVATE <nlohmann/json.hpp> <string> <string_view> <vector>)

add_test(NAME fuzz.replay COMMAND layerleak_fuzz_replay ${LAYERLEAK_FUZZ_DIR})
set_tests_properties(fuzz.replay PROPERTIES TIMEOUT 300 LABELS "fuzz;sanitize")
