# Runs one solve under valgrind on RANKS ranks and fails on any error valgrind reports in any rank --
# invalid reads and writes, uninitialised values, and (unless LEAKS is off: error paths end the
# program at once and free nothing) memory that henderson, PETSc or HDF5 allocated and lost. Open
# MPI's own allocations at MPI_Init are suppressed (valgrind.supp). Then the same solve without
# valgrind and with PETSc's -malloc_dump: nothing allocated with PetscMalloc may be left at the end.
#   -DMODEL_DIR=... -DMODEL=model.txt -DRANKS=2 -DOPTIONS="..." -DPRE="..." -DEXPECT_FAIL=0 -DLEAKS=1
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
file(GLOB files ${MODEL_DIR}/*)
list(FILTER files EXCLUDE REGEX "\\.h5$")
file(COPY ${files} DESTINATION ${WORK})
separate_arguments(options UNIX_COMMAND "${OPTIONS}")
if(PRE) # a run without valgrind first (to leave a checkpoint, say); it may fail
  separate_arguments(pre UNIX_COMMAND "${PRE}")
  execute_process(COMMAND ${MPIEXEC} ${NPFLAG} ${RANKS} ${HENDERSON} solve ${MODEL} ${pre} WORKING_DIRECTORY ${WORK}
                  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET TIMEOUT 120)
  message("preliminary run: ${rc}")
endif()
if(LEAKS)
  set(leaks --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible)
else()
  set(leaks --leak-check=no)
endif()
execute_process(COMMAND ${MPIEXEC} ${NPFLAG} ${RANKS} ${VALGRIND} -q ${leaks}
                        --track-origins=yes --suppressions=${SUPPRESSIONS} --log-file=${WORK}/valgrind.%p.log
                        ${HENDERSON} solve ${MODEL} ${options}
                WORKING_DIRECTORY ${WORK} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 600)
message("henderson under valgrind (${rc}):\n${out}\n${err}")
if(EXPECT_FAIL AND rc EQUAL 0)
  message(FATAL_ERROR "the run was meant to fail")
endif()
if(NOT EXPECT_FAIL AND NOT rc EQUAL 0)
  message(FATAL_ERROR "the run failed")
endif()
file(GLOB logs ${WORK}/valgrind.*.log)
list(LENGTH logs nlogs)
if(NOT nlogs EQUAL RANKS)
  message(FATAL_ERROR "expected ${RANKS} valgrind logs, found ${nlogs}")
endif()
set(bad 0)
foreach(log ${logs})
  file(READ ${log} text)
  if(NOT text STREQUAL "")
    message("${log}:\n${text}")
    set(bad 1)
  endif()
endforeach()
if(bad)
  message(FATAL_ERROR "valgrind found errors (above)")
endif()
if(NOT EXPECT_FAIL)
  file(REMOVE_RECURSE ${WORK}/run2)
  file(MAKE_DIRECTORY ${WORK}/run2)
  file(COPY ${files} DESTINATION ${WORK}/run2)
  if(PRE)
    execute_process(COMMAND ${MPIEXEC} ${NPFLAG} ${RANKS} ${HENDERSON} solve ${MODEL} ${pre} WORKING_DIRECTORY ${WORK}/run2
                    RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET TIMEOUT 120)
  endif()
  execute_process(COMMAND ${MPIEXEC} ${NPFLAG} ${RANKS} ${HENDERSON} solve ${MODEL} ${options} -malloc_debug -malloc_dump
                  WORKING_DIRECTORY ${WORK}/run2 RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
  string(REGEX MATCH "[0-9]+ bytes [A-Za-z_0-9]+\\(\\) at [^\n]*" leak "${out}${err}")
  if(NOT rc EQUAL 0 OR leak)
    message(FATAL_ERROR "with -malloc_dump (${rc}): ${leak}\n${out}\n${err}")
  endif()
  message("-malloc_dump: nothing left")
endif()
