#!/bin/sh
# Social (indirect) genetic effects against size, on simulated populations: the same population
# (henderson-simulate --shuffle --herds N/2000, one seed) solved as a plain animal model and with
# --social (pens of 4-15 within herd-year-season; 'random animal pedigree social pen' with a 2 x 2 G0
# and an iid pen effect), so that the difference is the cost of the social effect alone.
# henderson-simulate draws the social values and pens from a generator of their own: with the same
# --herds both runs have the same pedigree, direct values and records (the residuals rescaled).
#
#   sh benchmarks/social.sh BUILD_DIR
#
# Per run: equations, iterations, seconds an iteration (solve / iterations), setup seconds (read,
# pedigree, number, assemble), solve and total seconds, peak memory, and for the data operator the
# bytes an iteration moves as run.sh counts them: /solver operator_bytes (what a product reads from
# the operator's own storage) + 152 bytes an equation (x and y of the product, the CG vectors and the
# preconditioner's diagonal), and the ghosts (vector entries a product needs from other ranks: all
# ranks / the rank with the most); "-" without h5dump.  r direct and r social: correlations of the true
# values (true_bv.txt) with the solutions, over all animals.
#
# Environment: RANKS [2], SOCIAL_SIZES ["100000 1000000"], SOCIAL_SKIP (1: skip), TIMEOUT [1800], LAUNCH.
# Prints a markdown table; the logs (and the simulator's) go to benchmarks/logs/social/.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
if [ "${SOCIAL_SKIP:-0}" = 1 ]; then
  echo "$0: skipped (SOCIAL_SKIP=1)" >&2
  exit 0
fi
bench_setup "${1:-}"
ranks=${RANKS:-2}
sizes=${SOCIAL_SIZES:-"100000 1000000"}
limit=${TIMEOUT:-1800}
out=$logs/social
mkdir -p "$out"
logs=$out # bench_simulate writes its log beside ours
launch=$(bench_launch "${LAUNCH:-$bench_default_launch}" "$ranks")
have_h5=0
command -v h5dump > /dev/null 2>&1 && have_h5=1

# the correlation of columns 2 and 3 of "label true estimate" lines
correlation() {
  awk '{ n++; x += $2; y += $3; xx += $2 * $2; yy += $3 * $3; xy += $2 * $3 }
    END { if (n < 2) { print "-"; exit } vx = xx / n - (x / n) ^ 2; vy = yy / n - (y / n) ^ 2
          if (vx <= 0 || vy <= 0) print "-"; else printf "%.3f", (xy / n - x / n * y / n) / sqrt(vx * vy) }' "$1"
}

# r_of DIR TAG EFFECT COLUMN: the correlation of true_bv.txt's COLUMN with the solutions of EFFECT in DIR/TAG.h5
r_of() {
  tail -n +2 "$1/true_bv.txt" | awk -v c="$4" '{ print $1, $c }' | sort > "$out/true.tmp"
  "$henderson" export "$1/$2.h5" "$3" | sort > "$out/estimate.tmp"
  join "$out/true.tmp" "$out/estimate.tmp" > "$out/joined.tmp"
  correlation "$out/joined.tmp"
  rm -f "$out/true.tmp" "$out/estimate.tmp" "$out/joined.tmp"
}

echo "## Social genetic effects ($ranks ranks)"
echo
echo "| animals | model | equations | records | iterations | s/iteration | setup s | solve s | total s | peak MiB/rank | operator MB | MB/iteration | ghosts | r direct | r social |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for n in $sizes; do
  herds=$((n / 2000 > 10 ? n / 2000 : 10))
  for model in animal social; do
    flags="--herds $herds"
    [ "$model" = animal ] || flags="$flags --social"
    dir=$(bench_simulate "$n" "$flags")
    [ -n "$dir" ] || bench_die "henderson-simulate --animals $n $flags failed"
    tag=$model # the two models live in directories of their own
    log=$out/${model}_$n.txt
    rm -f "$dir/$tag.h5"
    # exit status 2 (not converged) still gives a summary; any other failure is a row of its own
    status=0
    # shellcheck disable=SC2086 # the launcher is words
    bench_timeout "$limit" $launch "$henderson" solve "$(bench_model "$dir" "$tag")" > "$log" 2>&1 || status=$?
    if [ "$status" -ne 0 ] && [ "$status" -ne 2 ]; then
      echo "| $n | $model | failed or over ${limit} s (see logs/social/${model}_$n.txt) | | | | | | | | | | | | |"
      continue
    fi
    attrs=
    [ "$have_h5" = 0 ] || attrs=$(bench_attrs "$dir/$tag.h5" /solver)
    printf '\n# /solver attributes\n%s\n' "$attrs" >> "$log"
    equations=$(bench_summary "$log" equations)
    iterations=$(bench_summary "$log" iterations)
    solve=$(bench_summary "$log" solve)
    opbytes=$(bench_attr "$attrs" operator_bytes)
    r_social=-
    [ "$model" = animal ] || r_social=$(r_of "$dir" "$tag" social 3)
    awk -v n="$n" -v model="$model" -v eq="$equations" -v rec="$(bench_summary "$log" records)" -v it="$iterations" -v solve="$solve" \
      -v read="$(bench_summary "$log" read)" -v ped="$(bench_summary "$log" pedigree)" -v num="$(bench_summary "$log" number)" \
      -v asm="$(bench_summary "$log" assemble)" -v total="$(bench_summary "$log" total)" -v peak="$(bench_summary "$log" peak)" \
      -v conv="$(bench_summary "$log" converged)" -v op="$(bench_attr "$attrs" operator)" -v opbytes="$opbytes" \
      -v ghosts="$(bench_attr "$attrs" ghosts)" -v ghosts_max="$(bench_attr "$attrs" ghosts_max)" \
      -v rd="$(r_of "$dir" "$tag" animal 2)" -v rs="$r_social" 'BEGIN {
        opmb = "-"; mb = "-"; gh = (ghosts != "") ? ghosts " / " ghosts_max : "-"
        if (op == "data" && opbytes != "") { opmb = sprintf("%.1f", opbytes / 1e6); mb = sprintf("%.1f", (opbytes + 152 * eq) / 1e6) }
        printf "| %d | %s | %d | %s | %d%s | %.4f | %.2f | %.2f | %.2f | %s | %s | %s | %s | %s | %s |\n", n, model, eq, rec, it, conv == "no" ? " (not converged)" : "",
          solve / it, read + ped + num + asm, solve, total, peak, opmb, mb, gh, rd, rs
      }'
    rm -f "$dir/$tag.h5" "$dir/model_$tag.txt"
  done
done
