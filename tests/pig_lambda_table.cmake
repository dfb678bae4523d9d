# The effect of lambda = sigma2e / sigma2u in the lecture notes' pig example: one model per row of
# the printed table (4 decimals), with sigma2e = 0.08 kept and sigma2u = 0.08 / lambda (second
# column below, to 17 digits), each solved at every rank count and compared with the table's
# sexF, sexM, dam474, dam475, dif_sex and dif_dam. Source: ../shared/refcases/seed_pigs/SOLUTIONS.txt.
set(pig_table
  #lambda sigma2u              sexF   sexM   dam474  dam475  dif_sex dif_dam
  "1e-04  800                  1.7183 1.4683 0.0017  -0.0017 0.25    0.0033"
  "0.05   1.6                  1.7184 1.4683 0.0016  -0.0016 0.25    0.0033"
  "0.1    0.8                  1.7184 1.4683 0.0016  -0.0016 0.2501  0.0032"
  "0.3    0.26666666666666667  1.7185 1.4683 0.0015  -0.0015 0.2502  0.003"
  "0.5    0.16                 1.7186 1.4683 0.0014  -0.0014 0.2503  0.0028"
  "0.75   0.10666666666666667  1.7187 1.4683 0.0013  -0.0013 0.2505  0.0025"
  "1      0.08                 1.7188 1.4682 0.0012  -0.0012 0.2506  0.0024"
  "5      0.016                1.7195 1.4681 5e-04   -5e-04  0.2514  0.0011"
  "10     0.008                1.7197 1.4681 3e-04   -3e-04  0.2516  6e-04"
  "20     0.004                1.7198 1.468  2e-04   -2e-04  0.2518  4e-04")
# printed to 4 decimals: a value is right when it rounds to the printed one
set(tol 0.0000501)
foreach(row ${pig_table})
  separate_arguments(f UNIX_COMMAND "${row}")
  list(GET f 0 lambda)
  list(GET f 1 sigma2u)
  list(GET f 2 sexF)
  list(GET f 3 sexM)
  list(GET f 4 d474)
  list(GET f 5 d475)
  list(GET f 6 dsex)
  list(GET f 7 ddam)
  set(dir ${CMAKE_CURRENT_BINARY_DIR}/pig_lambda/lambda_${lambda})
  file(MAKE_DIRECTORY ${dir})
  configure_file(${CMAKE_CURRENT_SOURCE_DIR}/cases/seed_pigs/data.txt ${dir}/data.txt COPYONLY)
  file(WRITE ${dir}/model.txt "# pig example, lambda = ${lambda}\ndata data.txt\ntrait weight\nfixed sex\nrandom dam iid ${sigma2u}\nresidual 0.08\noutput pigs.h5\n")
  file(WRITE ${dir}/expected.txt "# lambda ${lambda}: the row of the lecture notes' table (4 dp)
value sex F ${sexF} ${tol}
value sex M ${sexM} ${tol}
value dam 474 ${d474} ${tol}
value dam 475 ${d475} ${tol}
diff sex F M ${dsex} ${tol}
diff dam 474 475 ${ddam} ${tol}
")
  foreach(n ${HENDERSON_TEST_RANKS})
    add_test(NAME pig_lambda_${lambda}_${n}
             COMMAND ${CMAKE_COMMAND} -DMPIEXEC=${MPIEXEC_EXECUTABLE} -DNPFLAG=${MPIEXEC_NUMPROC_FLAG} -DRANKS=${n}
                     -DHENDERSON=$<TARGET_FILE:henderson> -DCHECK=$<TARGET_FILE:check_solutions>
                     -DCASE=${dir} -DWORK=${WORK}/pig_lambda_${lambda}_${n} -P ${CMAKE_CURRENT_SOURCE_DIR}/run_case.cmake)
    set_tests_properties(pig_lambda_${lambda}_${n} PROPERTIES ENVIRONMENT "${HENDERSON_TEST_ENVIRONMENT}" LABELS "regression;mpi" TIMEOUT 60
                         PROCESSORS ${n})
  endforeach()
endforeach()
