# Shared helpers of the benchmark scripts (POSIX sh; sourced, not run):
# shellcheck disable=SC2034 # the variables set here are used by the scripts that source it
#
#   . "$here/lib.sh"
#
# Provides
#   bench_setup BUILD           absolute paths: $build, $henderson, $simulate, $stream, $work, $logs
#   bench_simulate N FLAGS      prints the directory of a simulated population of N animals
#                               (henderson-simulate --shuffle FLAGS; cached under $BENCH_WORK); the flag
#                               --test-day K makes it a test-day model (test_day.sh)
#   bench_run N FLAGS TAG CMD.. henderson CMD.. on a copy of that population's model writing TAG.h5, under
#                               $limit seconds with $launch (set by the script), the log in
#                               $out/TAG_N<flags>.txt; false on failure
#   bench_specs SIZES MATERNAL  one word a population: "N:" for each of SIZES (single trait) and
#                               "N:--traits_2_--maternal" for each of MATERNAL; bench_spec_flags SPEC
#                               gives the simulator flags of one ("" or "--traits 2 --maternal")
#   bench_model DIR TAG         prints a copy of DIR/model.txt (DIR/model_TAG.txt) that writes TAG.h5,
#                               so that runs never read each other's output
#   bench_launch TEMPLATE P N Q prints the launcher command for P ranks on N nodes, Q a node: TEMPLATE
#                               with {ranks}, {nodes}, {ppn} replaced ("mpirun -n {ranks}",
#                               "srun -N {nodes} -n {ranks}", "mpirun -n {ranks} --map-by ppr:{ppn}:node")
#   bench_attrs FILE.h5 GROUP   prints the attributes of GROUP as name=value lines (needs h5dump)
#   bench_attr LINES NAME       the value of NAME in such lines (empty when missing)
#   bench_summary LOG KEY       a field of henderson's summary in LOG (see the awk below for the keys)
#   bench_young FILE.h5 DIR     prints the correlation of the animal solutions in FILE.h5 with the true values
#                               of DIR/true_bv.txt over the genotyped animals without a record ("r (count)")
#   bench_timeout SECONDS CMD.. runs CMD under timeout(1) when SECONDS > 0 and timeout exists
#   bench_header FILE TEXT      appends the machine description (date, CPU, cores, memory, MPI, PETSc)
#
# Environment: BENCH_WORK (default /tmp/henderson-bench) holds the simulated populations, which can be
# large (10^7 animals: about 0.6 GB); set it to a scratch file system on a cluster.

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Oversubscription (more ranks than cores) is wanted for the counting runs of communication.sh and
# harmless elsewhere; a launcher or site configuration that sets it otherwise wins.
export OMPI_MCA_rmaps_base_oversubscribe="${OMPI_MCA_rmaps_base_oversubscribe:-1}"

# The default launcher template (kept out of ${LAUNCH:-...}, which would end at the first "}")
bench_default_launch='mpirun -n {ranks}'

bench_die() {
  echo "$0: $*" >&2
  exit 1
}

bench_setup() {
  [ -d "${1:-}" ] || bench_die "no build directory '${1:-}' (build first: cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j)"
  build=$(cd "$1" && pwd)
  henderson=$build/henderson
  simulate=$build/benchmarks/henderson-simulate
  stream=$build/benchmarks/henderson-stream
  for exe in "$henderson" "$simulate"; do
    [ -x "$exe" ] || bench_die "$exe is missing (build first)"
  done
  work=${BENCH_WORK:-/tmp/henderson-bench}
  logs=${BENCH_LOGS:-$here/logs}
  mkdir -p "$work" "$logs"
}

bench_need_h5dump() {
  command -v h5dump > /dev/null 2>&1 || bench_die "h5dump is needed to read /solver of the output (Debian: apt-get install -y hdf5-tools)"
}

# The tag of a set of simulator flags, as run.sh names its directories: "--traits 2 --maternal" -> traits2maternal
bench_tag() {
  echo "$1" | tr -d ' -'
}

bench_simulate() {
  _n=$1
  _flags=${2:-}
  _dir=$work/sim_$_n$(bench_tag "$_flags")
  _testday=$(echo "$_flags" | sed -n 's/.*--test-day \([0-9]*\).*/\1/p')
  if [ ! -f "$_dir/model.txt" ]; then
    # shellcheck disable=SC2046 # the flags are words
    "$simulate" --animals "$_n" --shuffle $(echo "$_flags" | sed 's/--test-day [0-9]*//') --out "$_dir" > "$logs/simulate_$_n$(bench_tag "$_flags").txt" ||
      bench_die "henderson-simulate --animals $_n $_flags failed"
    [ -z "$_testday" ] || sh "$here/test_day.sh" "$_dir" "$_testday"
  fi
  echo "$_dir"
}

bench_run() {
  _n=$1
  _flags=$2
  _tag=$3
  _command=$4
  shift 4
  _dir=$(bench_simulate "$_n" "$_flags")
  _model=$(bench_model "$_dir" "$_tag")
  # shellcheck disable=SC2086,SC2154 # the launcher is words; the script sets $limit, $launch and $out
  bench_timeout "$limit" $launch "$henderson" "$_command" "$_model" "$@" > "$out/${_tag}_$_n$(bench_tag "$_flags").txt" 2>&1
}

bench_specs() {
  for _n in $1; do echo "$_n:"; done
  for _n in $2; do echo "$_n:--traits_2_--maternal"; done
}

bench_spec_flags() {
  echo "${1#*:}" | tr '_' ' '
}

bench_model() {
  sed "s/^output .*/output $2.h5/" "$1/model.txt" > "$1/model_$2.txt"
  grep -q "^output " "$1/model_$2.txt" || echo "output $2.h5" >> "$1/model_$2.txt"
  echo "$1/model_$2.txt"
}

bench_launch() {
  echo "$1" | sed -e "s/{ranks}/$2/g" -e "s/{nodes}/${3:-1}/g" -e "s/{ppn}/${4:-$2}/g"
}

bench_attrs() {
  [ -f "$1" ] || return 0
  h5dump -A -g "$2" "$1" 2> /dev/null | awk '
    /^ *ATTRIBUTE "/ { name = $2; gsub(/"/, "", name) }
    /^ *\(0\):/      { v = $2; for (i = 3; i <= NF; i++) v = v " " $i; gsub(/"/, "", v); if (name != "") print name "=" v; name = "" }'
}

bench_attr() {
  printf '%s\n' "$1" | sed -n "s/^$2=//p" | head -n 1
}

# Keys: equations, records (data operator) or nonzeros (assembled), iterations, residual, converged (yes/no),
# pc, read pedigree number assemble solve write total (seconds), peak (MiB on the largest rank),
# peak_all (MiB over all ranks), ranks
bench_summary() {
  awk -v key="$2" '
    /^henderson .* on [0-9]+ rank/ { for (i = 1; i <= NF; i++) if ($i ~ /^rank/) v["ranks"] = $(i - 1) }
    /^  equations/ { e = $2; sub(/[,:]/, "", e); v["equations"] = e }
    /^  operator/ {
      for (i = 3; i <= NF; i++) {
        if ($i ~ /^nonzeros/) v["nonzeros"] = $(i - 1)
        if ($i ~ /^records/) v["records"] = $(i - 1)
      }
    }
    /^  solver/ {
      pc = $4; sub(":", "", pc); v["pc"] = pc
      for (i = 1; i <= NF; i++) {
        if ($i == "iterations," || $i == "iteration,") v["iterations"] = $(i - 1)
        if ($i == "residual") { r = $(i + 1); v["residual"] = r }
      }
      v["converged"] = ($0 ~ /NOT CONVERGED/) ? "no" : "yes"
    }
    /^  seconds/ { for (i = 2; i < NF; i += 2) { k = $i; sub(",", "", k); x = $(i + 1); sub(",", "", x); v[k] = x } v["total"] = $NF }
    /^  memory/  { v["peak"] = $3; for (i = 1; i <= NF; i++) if ($i == "over") v["peak_all"] = $(i - 2) }
    END { if (key in v) print v[key] }' "$1"
}

bench_timeout() {
  _t=$1
  shift
  if [ "$_t" -gt 0 ] 2> /dev/null && command -v timeout > /dev/null 2>&1; then
    timeout -k 30 "$_t" "$@"
  else
    "$@"
  fi
}

bench_header() {
  {
    echo "Produced by \`$2\` on $(date -u +%Y-%m-%d), $(lscpu 2> /dev/null | sed -n 's/^Model name: *//p' | head -n 1),"
    echo "$(nproc) cores, $(free -g 2> /dev/null | awk '/Mem:/{print $2}') GiB, $(mpirun --version 2> /dev/null | head -n 1), PETSc $(pkg-config --modversion PETSc 2> /dev/null || echo '?')."
  } >> "$1"
}

# The young genotyped candidates are what genomic selection is for: their predictions come from relatives
# and, in single step, from their own genotypes only.  The genotyped IDs come from genotypes.fam, else the
# first column of genotypes.txt.
bench_young() {
  _ids=$2/genotypes.fam
  [ -f "$_ids" ] || _ids=$2/genotypes.txt
  "$henderson" export "$1" animal | awk -v ids="$_ids" -v data="$2/data.txt" -v tbv="$2/true_bv.txt" '
    BEGIN {
      col = ids ~ /fam$/ ? 2 : 1
      while ((getline l < ids) > 0) { split(l, f, " "); g[f[col]] = 1 }
      while ((getline l < data) > 0) { split(l, f, " "); rec[f[1]] = 1 }
      while ((getline l < tbv) > 0) { split(l, f, " "); t[f[1]] = f[2]; has[f[1]] = 1 }
    }
    ($1 in g) && !($1 in rec) && ($1 in has) { x = $NF; y = t[$1]; n++; sx += x; sy += y; sxx += x * x; syy += y * y; sxy += x * y }
    END {
      if (n < 3) { print "-"; exit }
      c = (sxy - sx * sy / n) / sqrt((sxx - sx * sx / n) * (syy - sy * sy / n)); printf "%.3f (%d)\n", c, n
    }'
}
