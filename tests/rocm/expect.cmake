# Runs a command and checks its exit status and output; PASS_REGULAR_EXPRESSION alone would
# ignore the exit status.
#
#   cmake -DCMD=<prog|arg|...> -DEXIT=zero|nonzero -DMATCH=<regex|...> [-DNO_MATCH=<regex|...>]
#         -P expect.cmake
# Every MATCH regex must match the combined output, no NO_MATCH regex may.
cmake_minimum_required(VERSION 3.20)
string(REPLACE "|" ";" cmd "${CMD}")
execute_process(COMMAND ${cmd} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
message("$ ${cmd}\n${out}(exit status ${rc})")
if(EXIT STREQUAL "zero" AND NOT rc EQUAL 0)
  message(FATAL_ERROR "expected success, got exit status ${rc}")
elseif(EXIT STREQUAL "nonzero" AND (rc EQUAL 0 OR NOT rc MATCHES "^[0-9]+$"))
  message(FATAL_ERROR "expected a failure exit status, got '${rc}'")
endif()
string(REPLACE "|" ";" match "${MATCH}")
foreach(re IN LISTS match)
  if(NOT out MATCHES "${re}")
    message(FATAL_ERROR "output does not match: ${re}")
  endif()
endforeach()
string(REPLACE "|" ";" no_match "${NO_MATCH}")
foreach(re IN LISTS no_match)
  if(out MATCHES "${re}")
    message(FATAL_ERROR "output matches what it must not: ${re}")
  endif()
endforeach()
