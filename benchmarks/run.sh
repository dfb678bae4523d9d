#!/bin/sh
# Benchmarks of henderson on simulated populations, measured against the machine's memory bandwidth.
#
#   sh benchmarks/run.sh [build-dir] [sizes] [ranks] [simulator flags] [results file]
#     e.g.  sh benchmarks/run.sh build "100000 1000000" "1 2" "--traits 2 --maternal"
#
# For each size a population is simulated (henderson-simulate, shuffled pedigree) and solved at each
# rank count with -log_view. Beside each rank count the STREAM triad runs with the same ranks.
# The bytes a conjugate-gradient iteration must move are counted from the operator and vector sizes:
#   the product with C: the bytes it reads from its own storage (/solver operator_bytes of the output:
#            assembled AIJ, 12 bytes a nonzero + 4 a row; the data operator, its records and pedigree)
#            + 16 bytes a row (x read, y written)
#   vectors: 2 VecTDot (16n each), 1 VecNorm (8n), 2 VecAXPY + 1 VecAYPX + 1 Jacobi apply (24n each)
#            = 136 bytes a row (point-block Jacobi reads its small blocks too: not counted)
# and divided by the measured seconds per iteration. Without h5dump (hdf5-tools) the operator's bytes come
# from the summary's operator line (three digits). Results go to benchmarks/RESULTS.md (the
# table) and benchmarks/logs/ (every run's summary, -log_view and /solver attributes).
# Environment: BENCH_WORK (where the populations are simulated, /tmp/henderson-bench), EXTRA (more
# options for every solve, e.g. "-mme_operator assembled"), STREAM_ARGS (for henderson-stream, e.g.
# "--mb 64" for a quick run; the default 256 MiB arrays are beyond any cache).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_setup "${1:-$here/../build}"
sizes=${2:-"100000 1000000 4000000"}
ranks=${3:-"1 2"}
flags=${4:-}
results=${5:-$here/RESULTS.md}
tag=$(bench_tag "$flags")
extra=${EXTRA:-}
stream_args=${STREAM_ARGS:-}
have_h5=0
command -v h5dump > /dev/null 2>&1 && have_h5=1

{
  bench_header /dev/stdout "sh benchmarks/run.sh ... \"$flags\""
  echo "Simulated populations (henderson-simulate --shuffle $flags: hys, sex fixed, age covariate, animal"
  echo "with pedigree, h2 = 0.3); CG with the default preconditioner, rtol 1e-8 on the true residual${extra:+; options $extra}."
  echo
  echo "| animals | ranks | operator | equations | nonzeros | iterations | read | pedigree | number | assemble | solve | write | total s | peak MiB/rank | ms/iteration | MB/iteration | GB/s | STREAM GB/s | % of STREAM | C x GB/s |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} >> "$results"

for p in $ranks; do
  # shellcheck disable=SC2086
  mpirun -n "$p" "$stream" $stream_args > "$logs/stream_$p.txt"
done

for n in $sizes; do
  dir=$(bench_simulate "$n" "$flags")
  for p in $ranks; do
    log=$logs/solve_${n}${tag}_$p.txt
    model=$(bench_model "$dir" run)
    rm -f "$dir/run.h5"
    # exit status 2 (not converged) still gives a line; any other failure stops the script
    # shellcheck disable=SC2086 # the extra options are words
    (cd "$dir" && mpirun -n "$p" "$henderson" solve "$(basename "$model")" -log_view $extra) > "$log" 2>&1 || [ $? -eq 2 ] ||
      bench_die "henderson failed at $n animals, $p ranks: see $log"
    attrs=
    [ "$have_h5" = 0 ] || attrs=$(bench_attrs "$dir/run.h5" /solver)
    printf '\n# /solver attributes\n%s\n' "$attrs" >> "$log"
    rm -f "$dir/run.h5" "$model"
    stream_gbs=$(sed -n 's/^STREAM_TRIAD_GBS=//p' "$logs/stream_$p.txt")
    awk -v n="$n" -v p="$p" -v stream="$stream_gbs" -v op="$(bench_attr "$attrs" operator)" \
      -v opbytes="$(bench_attr "$attrs" operator_bytes)" -v attrnnz="$(bench_attr "$attrs" nonzeros)" '
      /^  equations/ { eq = $2; sub(/[,:]/, "", eq); if ($3 == "nonzeros") { nnz = $4; sub(":", "", nnz) } }
      /^  operator/  { sop = $2; sub(",", "", sop)
                       for (i = 3; i <= NF; i++) {
                         if ($i ~ /^nonzeros/) nnz = $(i - 1)
                         if ($i == "read" && $(i + 1) == "a") { u = $(i - 1); m = (u == "kB") ? 1e3 : (u == "MB") ? 1e6 : (u == "GB") ? 1e9 : (u == "TB") ? 1e12 : 1; sbytes = $(i - 2) * m }
                       } }
      /^  solver/    { for (i = 1; i <= NF; i++) if ($i == "iterations,") it = $(i - 1) }
      /^  seconds/   { for (i = 2; i < NF; i += 2) t[$i] = $(i + 1); total = $NF }
      /^  memory/    { mem = $3 }
      /^KSPSolve /   { ksp = $4 }
      /^MatMult /    { mm = $4; mmcount = $2 }
      END {
        if (attrnnz != "" && attrnnz + 0 >= 0) nnz = attrnnz
        if (op == "") op = (sop != "") ? sop : (nnz != "") ? "assembled" : "?"
        opb = (opbytes != "") ? opbytes : (sbytes != "") ? sbytes : 12 * nnz + 4 * eq
        bytes = opb + 152 * eq
        mmbytes = opb + 16 * eq
        sper = ksp / it
        gbs = bytes / sper / 1e9
        printf "| %d | %d | %s | %d | %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.0f | %.1f | %.0f | %.1f | %.1f | %.0f%% | %.1f |\n",
          n, p, op, eq, (nnz != "" ? nnz : "-"), it, t["read"], t["pedigree"], t["number"], t["assemble"], t["solve"], t["write"], total, mem,
          1e3 * sper, bytes / 1e6, gbs, stream, 100 * gbs / stream, mmbytes / (mm / mmcount) / 1e9
      }' "$log" >> "$results"
  done
done
echo >> "$results"
