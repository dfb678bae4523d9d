# Runs COMMAND (a list) in WORK and checks its exit status (EXPECT_RC) and that its standard output and
# error together match every regular expression of MATCH (a list).
file(MAKE_DIRECTORY ${WORK})
execute_process(COMMAND ${COMMAND} WORKING_DIRECTORY ${WORK} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
message("exit ${rc}\n${out}\n${err}")
if(NOT rc EQUAL EXPECT_RC)
  message(FATAL_ERROR "exit status ${rc}, expected ${EXPECT_RC}")
endif()
foreach(pattern ${MATCH})
  if(NOT "${out}${err}" MATCHES "${pattern}")
    message(FATAL_ERROR "the output does not match '${pattern}'")
  endif()
endforeach()
