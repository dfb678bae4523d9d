# The expected values of this case from a dense pseudo-inverse of Mrode's Example 9.2 (4th ed. 10.2)
# mixed model equations, built here from data.txt and pedigree.txt independently of henderson (numpy):
#   python3 dense.py DIRECTORY_WITH_DATA_AND_PEDIGREE
import sys
import numpy as np

where = sys.argv[1] if len(sys.argv) > 1 else "."
d = np.loadtxt(where + "/data.txt", skiprows=1)
ped = np.loadtxt(where + "/pedigree.txt", skiprows=1, dtype=int)


def legendre(x, k):  # normalized: sqrt((2i+1)/2) P_i(x)
    P = [np.ones_like(x), x]
    for n in range(1, k):
        P.append(((2 * n + 1) * x * P[n] - n * P[n - 1]) / (n + 1))
    return np.array([np.sqrt((2 * i + 1) / 2) * P[i] for i in range(k + 1)]).T


to_unit = lambda dim: -1 + 2 * (dim - 4) / (310 - 4.0)  # DIM 4..310, the data's interval
n, nh, na, ncow = len(d), 10, 8, 5
G = np.array([[3.297, 0.594, -1.381], [0.594, 0.921, -0.289], [-1.381, -0.289, 1.005]])
P = np.array([[6.872, -0.254, -1.101], [-0.254, 3.171, 0.167], [-1.101, 0.167, 2.457]])
F4, F2 = legendre(to_unit(d[:, 1]), 4), legendre(to_unit(d[:, 1]), 2)
X, Za, Zp = np.zeros((n, nh + 5)), np.zeros((n, na * 3)), np.zeros((n, ncow * 3))
for i in range(n):
    cow, h = int(d[i, 0]), int(d[i, 2])
    X[i, h - 1] = 1
    X[i, nh:] = F4[i]
    Za[i, 3 * (cow - 1) : 3 * cow] = F2[i]
    Zp[i, 3 * (cow - 4) : 3 * (cow - 3)] = F2[i]
A = np.zeros((na, na))  # tabular method; parents come before their offspring
for i in range(na):
    s, m = ped[i, 1], ped[i, 2]
    for j in range(i):
        A[i, j] = A[j, i] = ((A[j, s - 1] if s else 0) + (A[j, m - 1] if m else 0)) / 2
    A[i, i] = 1 + (A[s - 1, m - 1] / 2 if s and m else 0)
W, Ri, f = np.hstack([X, Za, Zp]), 1 / 3.710, nh + 5
C = W.T @ W * Ri
C[f : f + 24, f : f + 24] += np.kron(np.linalg.inv(A), np.linalg.inv(G))
C[f + 24 :, f + 24 :] += np.kron(np.eye(ncow), np.linalg.inv(P))
Ci = np.linalg.pinv(C)  # HTD and the curve's constant are confounded: the random effects' PEV do not care
sol = Ci @ (W.T @ d[:, 3] * Ri)
t = legendre(to_unit(np.arange(6, 311.0)), 2).sum(0)  # -rr_range 6,310
for a in range(na):
    B = Ci[f + 3 * a : f + 3 * a + 3, f + 3 * a : f + 3 * a + 3]
    print("value cow_range %d %.10g 1e-6" % (a + 1, t @ sol[f + 3 * a : f + 3 * a + 3]))
    print("pev cow_range %d %.10g 1e-4" % (a + 1, t @ B @ t))
    print("reliability cow_range %d %.12f 1e-9" % (a + 1, 1 - t @ B @ t / (t @ G @ t * A[a, a])))
for c in range(ncow):
    o = f + 24 + 3 * c
    print("value pe_range %d %.10g 1e-6" % (c + 4, t @ sol[o : o + 3]))
    print("reliability pe_range %d %.12f 1e-9" % (c + 4, 1 - t @ Ci[o : o + 3, o : o + 3] @ t / (t @ P @ t)))
