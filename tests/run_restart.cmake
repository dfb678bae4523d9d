# A solve killed with SIGKILL half way, then started again with --restart, ends with the same
# solutions as one that was never interrupted: to the bit when it resumes on the same number of
# ranks (RANKS), to TOL on another (RESUME_RANKS). Rank 0 kills itself while writing the third
# checkpoint, after the new file is written and before it replaces the second: the worst moment.
#   -DMODEL_DIR=pedigrees/example -DRANKS=2 -DRESUME_RANKS=2 -DTOL=0
file(REMOVE_RECURSE ${WORK})
foreach(run uninterrupted interrupted)
  file(MAKE_DIRECTORY ${WORK}/${run})
  file(GLOB files ${MODEL_DIR}/*)
  list(FILTER files EXCLUDE REGEX "\\.h5$")
  file(COPY ${files} DESTINATION ${WORK}/${run})
endforeach()
set(solve ${HENDERSON} solve model.txt -ksp_rtol 1e-12)

execute_process(COMMAND ${MPIEXEC} ${NPFLAG} ${RANKS} ${solve} WORKING_DIRECTORY ${WORK}/uninterrupted
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 100)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the uninterrupted solve failed (${rc}):\n${out}\n${err}")
endif()

execute_process(COMMAND ${MPIEXEC} ${NPFLAG} ${RANKS} ${solve} -checkpoint_every 10 -henderson_kill_at_checkpoint 3
                WORKING_DIRECTORY ${WORK}/interrupted RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 100)
message("killed run (${rc}):\n${err}")
if(rc EQUAL 0)
  message(FATAL_ERROR "the run meant to be killed ended normally")
endif()
if(EXISTS ${WORK}/interrupted/solutions.h5)
  message(FATAL_ERROR "the killed run left solutions")
endif()
file(GLOB unfinished ${WORK}/interrupted/solutions.checkpoint.h5.tmp-*)
if(NOT EXISTS ${WORK}/interrupted/solutions.checkpoint.h5 OR NOT unfinished)
  message(FATAL_ERROR "expected the second checkpoint in place and the third one unfinished beside it")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E sleep 1) # the orphan is older than the restarted run, which then removes it

execute_process(COMMAND ${MPIEXEC} ${NPFLAG} ${RESUME_RANKS} ${solve} -checkpoint_every 10 --restart -info :sys
                WORKING_DIRECTORY ${WORK}/interrupted RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 100)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the restarted solve failed (${rc}):\n${out}\n${err}")
endif()
string(FIND "${out}" "restart     went on from the checkpoint" at)
string(FIND "${out}" "resuming from" from)
string(FIND "${out}" "after iteration 20" twenty)
if(at EQUAL -1 OR from EQUAL -1 OR twenty EQUAL -1)
  message(FATAL_ERROR "the restarted solve did not go on from the checkpoint after iteration 20:\n${out}")
endif()
file(GLOB left ${WORK}/interrupted/solutions.checkpoint.h5*)
if(left)
  message(FATAL_ERROR "the checkpoint (or the unfinished one of the killed run) is still there after a complete run: ${left}")
endif()
execute_process(COMMAND ${CHECK} -same ${TOL} ${WORK}/uninterrupted/solutions.h5 ${WORK}/interrupted/solutions.h5
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the restarted solve ended elsewhere than the uninterrupted one")
endif()
