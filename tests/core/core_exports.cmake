# Fails when libgdn_core defines a symbol of the testing library (the fp64 reference, the harness,
# golden-file and safetensors loading) or of nlohmann_json: an engine links gdn_core, and those
# belong to gdn_testing.
#   cmake -DNM=nm -DLIB=libgdn_core.so -P core_exports.cmake
execute_process(COMMAND ${NM} -DC --defined-only ${LIB} OUTPUT_VARIABLE syms RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR syms STREQUAL "")
  message(FATAL_ERROR "core_exports: ${NM} could not list the symbols of ${LIB}")
endif()
string(REGEX MATCHALL "[^\n]*(nlohmann|gdn::reference::|gdn::load_golden|gdn::run_case|gdn::Safetensors)[^\n]*" bad "${syms}")
if(bad)
  list(JOIN bad "\n  " lines)
  message(FATAL_ERROR "core_exports: ${LIB} defines testing-library symbols:\n  ${lines}")
endif()
message("core_exports: ${LIB} defines no symbol of the reference, the harness, case loading or nlohmann_json")
