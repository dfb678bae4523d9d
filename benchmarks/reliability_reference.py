#!/usr/bin/env python3
"""Approximate PEV and reliabilities by loopy Gaussian belief propagation on the factors of the mixed model
equations, against the exact inverse: the reference that chose the method for `--pev approximate`
(issue 17), on simulated populations small enough to invert.

    /usr/bin/python3 benchmarks/reliability_reference.py MODEL [SEED] [--no-merge]
    MODEL: animal | repeat | maternal | twotrait       (needs numpy: apt-get install python3-numpy)

C = the sum of its factors: a record (W_r' R_r^-1 W_r over the levels it touches), a family of the pedigree
(child, sire, dam: delta v v' (x) G0^-1 with v = (1, -1/2, -1/2), delta = 1/b_i with inbreeding), an iid level
(its variance's inverse). Each round every factor sends each of its variables (a level's block of
equations) the precision it gives once the other members are absorbed with what the rest of the factors
say of them (their cavities: total minus this factor's message); a variable's precision is the sum of its
messages, its PEV block their inverse. Exact on a tree; the pedigree and the contemporary groups make
loops, and two factors that share two variables would count their information twice, so:
  - an iid level that goes with an animal (its permanent environment, a dam's maternal permanent
    environment) is part of that animal's block;
  - an animal's records are one factor, and factors that share two animals are merged (a calf's record with
    its family when the record names its dam; families of full sibs) -- --no-merge shows the difference.
Printed: per genetic component, the correlation of approximate with exact reliabilities, the slope of
exact on approximate, the mean absolute difference and the means, after rounds 3 to 15."""
import numpy as np, sys, time

model = sys.argv[1] if len(sys.argv) > 1 else "animal"
rng = np.random.default_rng(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
ngen, per, nherd = 5, 400, 40

# ---- pedigree ----
sire, dam, gen, male = [], [], [], []
for g in range(ngen):
    for k in range(per):
        s = d = -1
        if g:
            prev = range((g - 1) * per, g * per)
            males = [i for i in prev if male[i]][:20]
            females = [i for i in prev if not male[i]]
            s = int(rng.choice(males)) if rng.random() > 0.05 else -1
            d = int(rng.choice(females)) if rng.random() > 0.05 else -1
        sire.append(s); dam.append(d); gen.append(g); male.append(bool(rng.random() < 0.5))
n = len(sire); sire = np.array(sire); dam = np.array(dam); male = np.array(male); gen = np.array(gen)
A = np.zeros((n, n))
for i in range(n):
    s, d = sire[i], dam[i]
    for j in range(i):
        a = (0.5 * A[j, s] if s >= 0 else 0) + (0.5 * A[j, d] if d >= 0 else 0)
        A[i, j] = A[j, i] = a
    A[i, i] = 1 + (0.5 * A[s, d] if s >= 0 and d >= 0 else 0)
F = np.diag(A) - 1
def b_of(i):
    s, d = sire[i], dam[i]
    if s >= 0 and d >= 0: return 0.5 - 0.25 * (F[s] + F[d])
    if s >= 0 or d >= 0: return 0.75 - 0.25 * F[s if s >= 0 else d]
    return 1.0

# ---- the model: variables (blocks of equations) and factors ----
if model == "animal":     ntr, G0, R0, nrec_per, pe = 1, np.array([[0.3]]), np.array([[0.7]]), 1, None
elif model == "repeat":   ntr, G0, R0, nrec_per, pe = 1, np.array([[0.2]]), np.array([[0.6]]), 3, 0.2
elif model == "maternal": ntr, G0, R0, nrec_per, pe = 1, np.array([[0.3, -0.05], [-0.05, 0.15]]), np.array([[0.5]]), 1, 0.1
elif model == "twotrait": ntr, G0, R0, nrec_per, pe = 2, np.array([[0.3, 0.15], [0.15, 0.4]]), np.array([[0.7, 0.2], [0.2, 0.6]]), 1, None
q = G0.shape[0]                       # equations of an animal's block (direct, maternal; or traits)
herd = rng.integers(0, nherd, n)
variables = []                        # (first equation, size)
def new_var(size):
    first = sum(v[1] for v in variables); variables.append((first, size)); return len(variables) - 1
cg_var = [new_var(ntr) for _ in range(nherd * ngen)]
sex_var = new_var(ntr)
qa = q + (1 if pe is not None else 0)   # an animal's variable: its genetic equations, then its (maternal) permanent environment
animal_var = [new_var(qa) for _ in range(n)]
pe_var = None
factors = []                          # (members, precision over the members' equations in order)
anchor = []                           # a record factor's animal (the records of one animal are one factor)
Rinv = np.linalg.inv(R0)
for i in range(n):
    if rng.random() > 0.9: continue
    for rep in range(nrec_per):
        present = [t for t in range(ntr) if not (model == "twotrait" and t == 1 and rng.random() < 0.2)]
        mem = [cg_var[herd[i] * ngen + gen[i]], sex_var, animal_var[i]]
        if model == "maternal" and dam[i] >= 0: mem.append(animal_var[dam[i]])
        size = sum(variables[v][1] for v in mem)
        Wr = np.zeros((len(present), size))
        at = {v: sum(variables[u][1] for u in mem[:k]) for k, v in enumerate(mem)}
        for row, t in enumerate(present):
            Wr[row, at[mem[0]] + t] = 1
            if male[i]: Wr[row, at[sex_var] + t] = 1
            if model == "maternal":
                Wr[row, at[animal_var[i]] + 0] = 1                     # direct of the calf
                if dam[i] >= 0: Wr[row, at[animal_var[dam[i]]] + 1] = 1  # maternal of the dam
                if pe is not None and dam[i] >= 0: Wr[row, at[animal_var[dam[i]]] + q] = 1
            else:
                Wr[row, at[animal_var[i]] + t] = 1
                if pe is not None: Wr[row, at[animal_var[i]] + q] = 1
        if not male[i]:
            keep = [c for c in range(size) if not (at[sex_var] <= c < at[sex_var] + ntr)]
            mem = [v for v in mem if v != sex_var]; Wr = Wr[:, keep]
        Ri = np.linalg.inv(R0[np.ix_(present, present)])
        factors.append((mem, Wr.T @ Ri @ Wr))
        anchor.append(i)
Ginv = np.linalg.inv(G0)
for i in range(n):
    mem, v = [animal_var[i]], [1.0]
    for p in (sire[i], dam[i]):
        if p >= 0: mem.append(animal_var[p]); v.append(-0.5)
    v = np.array(v)
    Gpad = np.zeros((qa, qa)); Gpad[:q, :q] = Ginv
    factors.append((mem, np.kron(np.outer(v, v) / b_of(i), Gpad)))
if pe is not None:
    for i in range(n):
        P = np.zeros((qa, qa)); P[q, q] = 1 / pe
        factors.append(([animal_var[i]], P))

# ---- factors that share two or more random variables are merged (a family of full sibs; an animal's
#      repeated records with its permanent environment; a dam's calves' records with her maternal effects and
#      their families): between two factors that share two variables belief propagation counts the
#      information twice ----
random_var = set(animal_var)
nrec_before = nrec if 'nrec' in dir() else None
merge = "--no-merge" not in sys.argv
parent = list(range(len(factors)))
def find(k):
    while parent[k] != k: parent[k] = parent[parent[k]]; k = parent[k]
    return k
if merge:  # an animal's records are one factor; then union-find by pairs of random variables, until no pair is in two groups
    first_of = {}
    for k, i in enumerate(anchor):
        if i in first_of: parent[find(k)] = find(first_of[i])
        else: first_of[i] = k
    while True:
        owner, changed = {}, False
        for k, (mem, _) in enumerate(factors):
            r = sorted(v for v in mem if v in random_var)
            for a_ in range(len(r)):
                for b_ in range(a_ + 1, len(r)):
                    key = (r[a_], r[b_])
                    if key not in owner: owner[key] = k
                    elif find(owner[key]) != find(k): parent[find(k)] = find(owner[key]); changed = True
        if not changed: break
        groups = {}
        for k in range(len(factors)): groups.setdefault(find(k), []).append(k)
        merged = []
        for ks in groups.values():
            if len(ks) == 1: merged.append(factors[ks[0]]); continue
            mem = sorted(set(v for k in ks for v in factors[k][0]))
            off = {v: o for v, o in zip(mem, np.cumsum([0] + [variables[v][1] for v in mem]))}
            size = sum(variables[v][1] for v in mem)
            L = np.zeros((size, size))
            for k in ks:
                m, Lk = factors[k]
                e = np.concatenate([np.arange(off[v], off[v] + variables[v][1]) for v in m])
                L[np.ix_(e, e)] += Lk
            merged.append((mem, L))
        factors = merged
        parent = list(range(len(factors)))
print("largest factor:", max(len(f[0]) for f in factors), "variables")

# ---- exact: C assembled from the same factors, inverted ----
neq = sum(v[1] for v in variables)
C = np.zeros((neq, neq))
def eqs(mem): return np.concatenate([np.arange(variables[v][0], variables[v][0] + variables[v][1]) for v in mem])
for mem, L in factors:
    e = eqs(mem); C[np.ix_(e, e)] += L
used = np.nonzero(np.diag(C) > 0)[0]
t0 = time.time(); Cinv = np.zeros((neq, neq)); Cinv[np.ix_(used, used)] = np.linalg.inv(C[np.ix_(used, used)]); t_exact = time.time() - t0
def rel(pev_blocks):
    """Reliabilities of the animals' equations: 1 - PEV / ((1 + F) G0_kk)."""
    out = np.zeros((n, q))
    for i in range(n):
        out[i] = 1 - np.diag(pev_blocks[i])[:q] / ((1 + F[i]) * np.diag(G0))
    return out
exact = rel([Cinv[np.ix_(eqs([animal_var[i]]), eqs([animal_var[i]]))] for i in range(n)])

# ---- loopy Gaussian belief propagation ----
sizes = [v[1] for v in variables]
msgs = [[np.zeros((sizes[v], sizes[v])) for v in mem] for mem, _ in factors]
Gstart = np.zeros((qa, qa)); Gstart[:q, :q] = Ginv
if pe is not None: Gstart[q, q] = 1 / pe
start = {v: Gstart for v in animal_var}      # the first round's cavities: an animal's prior precision
def totals():
    T = [np.zeros((s, s)) for s in sizes]
    for (mem, _), m in zip(factors, msgs):
        for v, g in zip(mem, m): T[v] += g
    return T
def pinv_psd(M):
    w, V = np.linalg.eigh(M)
    keep = w > 1e-10 * max(w.max(), 1e-300)
    return (V[:, keep] / w[keep]) @ V[:, keep].T
T = totals()
for v in animal_var: T[v] = T[v] + start[v]
print(f"{model}: {n} animals, {len(factors)} factors, {neq} equations (exact inverse {t_exact:.1f} s); mean reliability exact {exact.mean(0).round(3)}")
for rnd in range(1, 16):
    new = []
    for (mem, L), m in zip(factors, msgs):
        off = np.cumsum([0] + [sizes[v] for v in mem])
        cav = [T[v] - g for v, g in zip(mem, m)]
        out = []
        for x in range(len(mem)):
            xs = np.arange(off[x], off[x + 1])
            if len(mem) == 1: out.append(L.copy()); continue
            ys = np.concatenate([np.arange(off[y], off[y + 1]) for y in range(len(mem)) if y != x])
            M = L[np.ix_(ys, ys)].copy()
            at = 0
            for y in range(len(mem)):
                if y == x: continue
                s = sizes[mem[y]]; M[at:at + s, at:at + s] += cav[y]; at += s
            out.append(L[np.ix_(xs, xs)] - L[np.ix_(xs, ys)] @ pinv_psd(M) @ L[np.ix_(ys, xs)])
        new.append(out)
    msgs = new
    T = totals()
    if rnd in (3, 5, 8, 10, 15):
        approx = rel([np.linalg.inv(T[animal_var[i]]) for i in range(n)])
        line = []
        for k in range(q):
            a, e = approx[:, k], exact[:, k]
            line.append(f"[{k}] corr {np.corrcoef(a, e)[0, 1]:.4f} slope {np.polyfit(a, e, 1)[0]:.3f} mad {np.abs(a - e).mean():.4f} mean {a.mean():.3f}")
        print(f"  round {rnd:2d}: " + "; ".join(line))
