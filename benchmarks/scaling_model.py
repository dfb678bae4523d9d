#!/usr/bin/env python3
"""Strong-scaling model of henderson solve (animal model, iteration on data) for 10^7 and 10^8 animals
on 1 to 512 nodes, from per-rank rates measured on this machine and the communication counted by
henderson itself (benchmarks/RESULTS.md, "Scaling across nodes").

    python3 benchmarks/scaling_model.py [ranks-per-node] [latency-us] [network-GB/s] [node-STREAM-GB/s] [distributed]

Every phase is split into what rank 0 does alone (serial: it grows with the population and not with the
ranks), what the ranks share (parallel: rank-seconds / ranks), and what the messages cost (latency per
message and bytes over the network). The rates are seconds per 10^7 animals (10^7 records), measured at
2 ranks on the 2-core AMD EPYC machine of RESULTS.md (2026-12-05, the pedigree read by every rank), converted
to rank-seconds.
"""
import math
import sys

RANKS_PER_NODE = int(sys.argv[1]) if len(sys.argv) > 1 else 16
LATENCY = (float(sys.argv[2]) if len(sys.argv) > 2 else 2.0) * 1e-6  # seconds a message (InfiniBand-class)
BANDWIDTH = (float(sys.argv[3]) if len(sys.argv) > 3 else 10.0) * 1e9  # bytes a second a node
NODE_STREAM = (float(sys.argv[4]) if len(sys.argv) > 4 else 80.0) * 1e9  # a node's memory bandwidth (STREAM triad)
DISTRIBUTED = len(sys.argv) > 5 and sys.argv[5] == "distributed"  # the checks, order and permutation shared as well (not built)

# --- measured: seconds per 10^7 animals (rank-seconds where parallel) ---
SERIAL = {  # rank 0 alone (the pedigree read by every rank, -pedigree_read auto from 2 ranks)
    "pedigree check+order": 1.5,  # the gathered lines, 4 integers each, no label (1.7 with rank 0's table)
    "pedigree to the ranks": 0.5, # rank 0 gathers the lines and the IDs' hashes (ancestry), scatters parents, F, alpha
    "order animals": 1.4,         # -order_by: the pedigree permuted on rank 0
}
PARALLEL = {  # rank-seconds, shared by the ranks
    "read data": 6.2,             # 3.1 s on 2 ranks
    "pedigree read": 7.9,         # byte ranges parsed (0.8 s on 2 ranks), IDs numbered by their owners (3.1 s)
    "inbreeding sweeps": 10.8,    # the indirect method, 1 rank; generations shared out (same F at any count)
    "numbering (owners)": 3.6,    # the data IDs to their owners, who find the pedigree's among theirs (rank 0 sends nothing)
    "assemble": 10.2,             # 5.1 s on 2 ranks
    "write": 2.4,
}
ITERATIONS = 51                 # CG + Jacobi to 1e-8 (it does not grow with the population: 50 at 10^5..10^7)
PRODUCT = 0.34                  # rank-seconds a CG iteration per 10^7 (170 ms on 2 ranks: product + vectors; 220 before the prefetches were emitted)
ITERATION_BYTES = 1.8e9         # what an iteration moves per 10^7: the operator's 395 MB + 136 bytes an equation of vectors
GENERATIONS = 11                # rounds of the shared inbreeding (one Allgatherv each)


def ghost_ratio(p):
    """Ghost values a rank receives per equation it owns: measured at 10^5 animals (2..64 ranks) as 0.37,
    0.57, 0.73, 0.85, 0.95, 1.03, and taken to level off at 1.1 (a rank needs about one parent's value for
    each of its animals that has one elsewhere)."""
    if p <= 1:
        return 0.0
    return min(1.1, 0.37 + 0.22 * math.log2(p / 2))


def messages(p):
    """Messages a rank sends in one product: direct 2 (p - 1), the grid route 2 (R + C - 2) from 32 ranks."""
    if p <= 1:
        return 0
    if p < 32:
        return 2 * (p - 1)
    c = math.ceil(math.sqrt(p))
    r = math.ceil(p / c)
    return 2 * (r + c - 2)


def model(animals, nodes):
    scale = animals / 1e7
    p = nodes * RANKS_PER_NODE
    owned = animals * 1.02 / p                      # equations a rank (animals + fixed levels)
    serial = sum(SERIAL.values()) * scale
    parallel = sum(PARALLEL.values()) * scale / p
    if DISTRIBUTED:  # what the issue asks for: rank 0's work shared too (its exchanges not counted)
        parallel += serial / p
        serial = 0.0
    # set-up traffic: parents to every rank (8 bytes an animal), F of every generation to every rank
    setup_bytes = animals * 8 + animals * 8
    setup_comm = setup_bytes / BANDWIDTH + GENERATIONS * 2 * math.log2(max(p, 2)) * LATENCY
    # a product: its compute, its messages, the ghost values (in and the sums back, 8 bytes each, routed
    # twice through the grid), and CG's 3 reductions
    hops = 2 if p >= 32 else 1
    product = max(PRODUCT * scale / p, ITERATION_BYTES * scale / (nodes * NODE_STREAM))  # a node's memory bandwidth caps it
    product_comm = messages(p) * LATENCY + 2 * hops * ghost_ratio(p) * owned * 8 / (BANDWIDTH / RANKS_PER_NODE)
    reductions = 3 * 2 * math.log2(max(p, 2)) * LATENCY if p > 1 else 0
    solve = ITERATIONS * (product + product_comm + reductions)
    total = serial + parallel + setup_comm + solve
    return serial, parallel + setup_comm, solve, total, messages(p)


def main():
    print(f"ranks a node {RANKS_PER_NODE}, latency {LATENCY * 1e6:.1f} us, network {BANDWIDTH / 1e9:.0f} GB/s a node, "
          f"memory {NODE_STREAM / 1e9:.0f} GB/s a node{', rank 0 phases distributed (not built)' if DISTRIBUTED else ''}\n")
    for animals in (1e7, 1e8):
        print(f"#### {animals:.0e} animals\n")
        print("| nodes | ranks | rank 0 alone s | shared set-up s | solve s | total s | speed-up | messages/rank/product |")
        print("|---|---|---|---|---|---|---|---|")
        base = None
        for nodes in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512):
            s, par, solve, total, msg = model(animals, nodes)
            base = base or total
            print(f"| {nodes} | {nodes * RANKS_PER_NODE} | {s:.1f} | {par:.2f} | {solve:.2f} | {total:.1f} | {base / total:.1f} | {msg} |")
        print()


if __name__ == "__main__":
    main()
