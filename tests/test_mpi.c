/* kifmm over MPI (kifmm_mpi.h): every rank's results against one kifmm object over the union of the
   points (to rounding) and against the direct sum, on uniform, sphere and clustered points split
   unevenly (rank 0 empty, the far cluster on the last rank, the rest interleaved; in one case the
   sources on the even ranks and the targets on the odd ones); then NaN on one
   rank, mismatched configs, and an allocator that fails on one rank at every allocation in turn:
   every rank must return the same status, leak nothing and not hang.
   Run: mpirun -np 1..4 test_mpi [quick] */
#include <mpi.h>
#define KIFMM_IMPLEMENTATION
#define KIFMM_MPI_IMPLEMENTATION
#include "kifmm_mpi.h"
#include "testutil.h"

static int rank, nranks;

/* the rank that holds point i of a set: none on rank 0 (when there are others), the odd points
   of two clusters (the far one) on the last rank, the rest by a hash, rank r weighted r */
static int owner_of(size_t i, int dist, int salt) {
    uint64_t h = (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)salt * 0xbf58476d1ce4e5b9ULL;
    int r, tot = 0, pick;
    if (nranks == 1) return 0;
    if (dist == TU_TWO_CLUSTERS && (i & 1)) return nranks - 1;
    h ^= h >> 29;
    if (salt == 8) return 2 * (int)(h % (uint64_t)((nranks + 1) / 2));       /* even ranks only */
    if (salt == 9) return 1 + 2 * (int)(h % (uint64_t)(nranks / 2));         /* odd ranks only */
    for (r = 1; r < nranks; r++) tot += r;
    pick = (int)(h % (uint64_t)tot);
    for (r = 1; r < nranks; r++) {
        if (pick < r) return r;
        pick -= r;
    }
    return nranks - 1;
}

typedef struct local { size_t n, *idx; double *x; } local;

static local take(const double *x, size_t n, int dist, int salt) {
    local l;
    size_t i;
    l.n = 0;
    l.idx = (size_t *)malloc((n + 1) * sizeof *l.idx);
    l.x = (double *)malloc((3 * n + 3) * sizeof *l.x);
    for (i = 0; i < n; i++)
        if (owner_of(i, dist, salt) == rank) {
            memcpy(l.x + 3 * l.n, x + 3 * i, 3 * sizeof *l.x);
            l.idx[l.n++] = i;
        }
    return l;
}

static void drop(local *l) { free(l->idx); free(l->x); }

/* rows of width w of the global array a at the local indices */
static double *rows(const double *a, const local *l, size_t w) {
    double *o = (double *)malloc((l->n * w + 1) * sizeof *o);
    size_t i;
    for (i = 0; i < l->n; i++) memcpy(o + i * w, a + l->idx[i] * w, w * sizeof *o);
    return o;
}

/* sqrt(sum |a - b|^2 / sum |b|^2) over all ranks */
static double rel_all(const double *a, const double *b, size_t n) {
    double s[2] = {0, 0};
    size_t i;
    for (i = 0; i < n; i++) { s[0] += (a[i] - b[i]) * (a[i] - b[i]); s[1] += b[i] * b[i]; }
    MPI_Allreduce(MPI_IN_PLACE, s, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return s[1] > 0 ? sqrt(s[0] / s[1]) : sqrt(s[0]);
}

static int same_everywhere(int v) {
    int lo = v, hi = v;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return lo == hi;
}

typedef struct fmm_case {
    const char *name;
    int dist, kernel, same, nd, dip, hess, grad, order;
    size_t n;
    double param, tol_pot, tol_grad;
} fmm_case;

/* one case: MPI against one node on the union, and against the direct sum at sampled targets */
static void run_case(const fmm_case *k, int quick) {
    kifmm_config c;
    kifmm_eval_desc d, dl;
    kifmm *f = NULL, *one = NULL;
    size_t n = quick ? k->n / 3 : k->n, nt = n, i, nd = (size_t)k->nd, sd, td, m;
    double *xs, *xt, *q, *dip, *p1, *g1, *h1, *pl, *gl, *hl, *pd, *gd, *hd, *ys;
    local ls, lt;
    kifmm_status st;
    int dist = k->dist;
    memset(&c, 0, sizeof c);
    c.order = k->order;
    c.threads = 1;
    c.nd = k->nd;
    c.kernel.kind = (kifmm_kernel_kind)k->kernel;
    c.kernel.param = k->param;
    if (k->kernel == KIFMM_KERNEL_USER) {
        c.kernel.source_dim = c.kernel.target_dim = 1;
        c.kernel.homogeneity = -1;
        c.kernel.eval = tu_user_laplace;
    }
    sd = k->kernel == KIFMM_KERNEL_STOKES ? 3 : 1;
    td = sd;
    tu_seed(11 + (uint64_t)k->dist);
    xs = tu_new_points(n, dist);
    xt = k->same == 1 ? xs : tu_new_points(nt, dist);
    q = (double *)malloc(n * sd * nd * sizeof *q);
    dip = (double *)malloc(3 * n * nd * sizeof *dip);
    for (i = 0; i < n * sd * nd; i++) q[i] = tu_rand() - 0.5;
    for (i = 0; i < 3 * n * nd; i++) dip[i] = tu_rand() - 0.5;
    ls = take(xs, n, dist, k->same == 2 ? 8 : 1);   /* same 2: sources and targets on different ranks */
    lt = k->same == 1 ? take(xs, n, dist, 1) : take(xt, nt, dist, k->same == 2 ? 9 : 2);
    p1 = (double *)malloc(nt * td * nd * sizeof *p1);
    g1 = (double *)malloc(3 * nt * td * nd * sizeof *g1);
    h1 = (double *)malloc(6 * nt * nd * sizeof *h1);
    /* one node, all points */
    memset(&d, 0, sizeof d);
    d.nd = k->nd; d.charges = q; d.dipoles = k->dip ? dip : NULL;
    d.potentials = p1; d.gradients = k->grad ? g1 : NULL; d.hessians = k->hess ? h1 : NULL;
    st = kifmm_create(&one, &c, xs, n, xt, nt);
    CHECK(st == KIFMM_OK, "%s: one-node create: %s", k->name, kifmm_status_string(st));
    st = kifmm_evaluate_ex(one, &d);
    CHECK(st == KIFMM_OK, "%s: one-node evaluate: %s", k->name, kifmm_status_string(st));
    kifmm_destroy(one);
    /* distributed */
    st = kifmm_mpi_create(&f, &c, MPI_COMM_WORLD, ls.x, ls.n, lt.x, lt.n);
    CHECK(st == KIFMM_OK, "%s: kifmm_mpi_create: %s", k->name, kifmm_status_string(st));
    if (st != KIFMM_OK) goto out;
    {
        double *lq = rows(q, &ls, sd * nd), *ldip = rows(dip, &ls, 3 * nd);
        double *ep, *eg, *eh, e[3], ed[3];
        pl = (double *)malloc((lt.n * td * nd + 1) * sizeof *pl);
        gl = (double *)malloc((3 * lt.n * td * nd + 1) * sizeof *gl);
        hl = (double *)malloc((6 * lt.n * nd + 1) * sizeof *hl);
        memset(&dl, 0, sizeof dl);
        dl.nd = k->nd; dl.charges = lq; dl.dipoles = k->dip ? ldip : NULL;
        dl.potentials = pl; dl.gradients = k->grad ? gl : NULL; dl.hessians = k->hess ? hl : NULL;
        st = kifmm_evaluate_ex(f, &dl);
        CHECK(st == KIFMM_OK, "%s: MPI evaluate: %s", k->name, kifmm_status_string(st));
        {   /* a second evaluation on the same object, charges times -2: nothing of the first remains */
            size_t np = lt.n * td * nd, j;
            double *p2 = (double *)malloc((np + 1) * sizeof *p2), e2;
            kifmm_eval_desc d2 = dl;
            for (j = 0; j < ls.n * sd * nd; j++) lq[j] *= -2;
            for (j = 0; j < 3 * ls.n * nd; j++) ldip[j] *= -2;
            d2.potentials = p2; d2.gradients = NULL; d2.hessians = NULL;
            st = kifmm_evaluate_ex(f, &d2);
            CHECK(st == KIFMM_OK, "%s: second evaluate: %s", k->name, kifmm_status_string(st));
            for (j = 0; j < np; j++) p2[j] /= -2;
            e2 = rel_all(p2, pl, np);
            CHECK(e2 < 1e-13, "%s: second evaluation with -2 q: %.2e from -2 x the first", k->name, e2);
            free(p2);
        }
        ep = rows(p1, &lt, td * nd); eg = rows(g1, &lt, 3 * td * nd); eh = rows(h1, &lt, 6 * nd);
        e[0] = rel_all(pl, ep, lt.n * td * nd);
        e[1] = k->grad ? rel_all(gl, eg, 3 * lt.n * td * nd) : 0;
        e[2] = k->hess ? rel_all(hl, eh, 6 * lt.n * nd) : 0;
        /* the direct sum at (up to) 150 of each rank's targets */
        m = lt.n < 150 ? lt.n : 150;
        ys = (double *)malloc((3 * m + 1) * sizeof *ys);
        pd = (double *)malloc((m * td * nd + 1) * sizeof *pd);
        gd = (double *)malloc((3 * m * td * nd + 1) * sizeof *gd);
        hd = (double *)malloc((6 * m * nd + 1) * sizeof *hd);
        for (i = 0; i < m; i++) {
            size_t j = i * (lt.n / m);
            memcpy(ys + 3 * i, lt.x + 3 * j, 3 * sizeof *ys);
            memcpy(ep + i * td * nd, pl + j * td * nd, td * nd * sizeof *ep);
            memcpy(eg + 3 * i * td * nd, gl + 3 * j * td * nd, 3 * td * nd * sizeof *eg);
            memcpy(eh + 6 * i * nd, hl + 6 * j * nd, 6 * nd * sizeof *eh);
        }
        d.potentials = pd; d.gradients = k->grad ? gd : NULL; d.hessians = k->hess ? hd : NULL;
        st = kifmm_direct_ex(&c, xs, n, ys, m, &d);
        CHECK(st == KIFMM_OK, "%s: direct: %s", k->name, kifmm_status_string(st));
        ed[0] = rel_all(ep, pd, m * td * nd);
        ed[1] = k->grad ? rel_all(eg, gd, 3 * m * td * nd) : 0;
        ed[2] = k->hess ? rel_all(eh, hd, 6 * m * nd) : 0;
        CHECK(e[0] < 1e-12 && e[1] < 1e-12 && e[2] < 1e-12, "%s: MPI against one node: %.2e %.2e %.2e", k->name, e[0], e[1],
              e[2]);
        CHECK(ed[0] < k->tol_pot && ed[1] < k->tol_grad && ed[2] < 10 * k->tol_grad,
              "%s: MPI against the direct sum: %.2e %.2e %.2e", k->name, ed[0], ed[1], ed[2]);
        if (rank == 0)
            printf("%-26s n %6zu on %d ranks: against one node %.1e %.1e %.1e, against direct %.1e %.1e %.1e\n", k->name, n,
                   nranks, e[0], e[1], e[2], ed[0], ed[1], ed[2]);
        free(lq); free(ldip); free(ep); free(eg); free(eh); free(ys); free(pd); free(gd); free(hd);
        free(pl); free(gl); free(hl);
    }
    kifmm_destroy(f);
out:
    drop(&ls); drop(&lt);
    if (k->same != 1) free(xt);
    free(xs); free(q); free(dip); free(p1); free(g1); free(h1);
}

/* kifmm_set_points with other points (and counts) per rank, then again against one node */
static void test_set_points(void) {
    kifmm_config c;
    kifmm *f = NULL, *one = NULL;
    size_t n1 = 3000, n2 = 5000, i;
    double *x1 = tu_new_points(n1, TU_CUBE), *x2 = tu_new_points(n2, TU_PLUMMER), *q = (double *)malloc(n2 * sizeof *q);
    double *p = (double *)malloc(n2 * sizeof *p), *pl, *lq, *ep, e;
    local l1 = take(x1, n1, TU_CUBE, 3), l2 = take(x2, n2, TU_PLUMMER, 4);
    kifmm_status st;
    memset(&c, 0, sizeof c);
    c.order = 5;
    c.threads = 1;
    for (i = 0; i < n2; i++) q[i] = tu_rand() - 0.5;
    st = kifmm_mpi_create(&f, &c, MPI_COMM_WORLD, l1.x, l1.n, l1.x, l1.n);
    CHECK(st == KIFMM_OK, "set_points: create: %s", kifmm_status_string(st));
    if (st == KIFMM_OK) {
        st = kifmm_set_points(f, l2.x, l2.n, l2.x, l2.n);
        CHECK(st == KIFMM_OK, "set_points: %s", kifmm_status_string(st));
        kifmm_create(&one, &c, x2, n2, x2, n2);
        kifmm_evaluate(one, q, p, NULL);
        kifmm_destroy(one);
        lq = rows(q, &l2, 1);
        pl = (double *)malloc((l2.n + 1) * sizeof *pl);
        st = kifmm_evaluate(f, lq, pl, NULL);
        CHECK(st == KIFMM_OK, "set_points: evaluate: %s", kifmm_status_string(st));
        ep = rows(p, &l2, 1);
        e = rel_all(pl, ep, l2.n);
        CHECK(e < 1e-12, "set_points: against one node %.2e", e);
        if (rank == 0) printf("set_points cube -> plummer: against one node %.1e\n", e);
        free(lq); free(pl); free(ep);
        kifmm_destroy(f);
    }
    drop(&l1); drop(&l2);
    free(x1); free(x2); free(q); free(p);
}

/* NaN on one rank, mismatched configs: the same status everywhere */
static void test_bad_input(void) {
    kifmm_config c;
    kifmm *f = NULL;
    size_t n = 2000, i;
    double *x = tu_new_points(n, TU_CUBE), *q, *p;
    local l = take(x, n, TU_CUBE, 5);
    kifmm_status st;
    memset(&c, 0, sizeof c);
    c.order = 4;
    c.threads = 1;
    q = (double *)malloc((l.n + 1) * sizeof *q);
    p = (double *)malloc((l.n + 1) * sizeof *p);
    for (i = 0; i < l.n; i++) q[i] = 1;
    /* a NaN coordinate on the last rank */
    if (rank == nranks - 1 && l.n) l.x[1] = NAN;
    st = kifmm_mpi_create(&f, &c, MPI_COMM_WORLD, l.x, l.n, l.x, l.n);
    CHECK(st == KIFMM_ERR_NONFINITE_INPUT, "NaN coordinate on rank %d: rank %d gets %s", nranks - 1, rank,
          kifmm_status_string(st));
    CHECK(f == NULL, "NaN coordinate: an object came back");
    CHECK(same_everywhere((int)st), "NaN coordinate: statuses differ");
    if (st == KIFMM_OK) kifmm_destroy(f);
    if (rank == nranks - 1 && l.n) l.x[1] = 0.5;
    /* mismatched order */
    c.order = rank == nranks - 1 ? 5 : 4;
    st = kifmm_mpi_create(&f, &c, MPI_COMM_WORLD, l.x, l.n, l.x, l.n);
    CHECK(nranks == 1 ? st == KIFMM_OK : st == KIFMM_ERR_INVALID_ARGUMENT, "mismatched order: %s", kifmm_status_string(st));
    CHECK(same_everywhere((int)st), "mismatched order: statuses differ");
    if (st == KIFMM_OK) kifmm_destroy(f);
    c.order = 4;
    /* a NaN charge on the last rank, then the same object with good charges */
    st = kifmm_mpi_create(&f, &c, MPI_COMM_WORLD, l.x, l.n, l.x, l.n);
    CHECK(st == KIFMM_OK, "create: %s", kifmm_status_string(st));
    if (st == KIFMM_OK) {
        if (rank == nranks - 1 && l.n) q[0] = NAN;
        st = kifmm_evaluate(f, q, p, NULL);
        CHECK(st == KIFMM_ERR_NONFINITE_INPUT, "NaN charge on rank %d: rank %d gets %s", nranks - 1, rank,
              kifmm_status_string(st));
        CHECK(same_everywhere((int)st), "NaN charge: statuses differ");
        q[0] = 1;
        st = kifmm_evaluate(f, q, p, NULL);
        CHECK(st == KIFMM_OK, "after a NaN charge: %s", kifmm_status_string(st));
        /* desc->nd differing between ranks */
        {
            kifmm_eval_desc d;
            memset(&d, 0, sizeof d);
            d.nd = rank == nranks - 1 ? 2 : 1;
            d.charges = q; d.potentials = p;
            st = kifmm_evaluate_ex(f, &d);
            CHECK(same_everywhere((int)st) && st != KIFMM_OK, "desc->nd differing: %s", kifmm_status_string(st));
        }
        kifmm_destroy(f);
    }
    drop(&l);
    free(x); free(q); free(p);
}

/* an allocator that fails on the last rank at its k-th allocation, for every k until create
   and evaluate succeed: the same status everywhere, and every block given back */
static void test_alloc_failures(int quick) {
    kifmm_config c;
    size_t n = 1500, i;
    double *x = tu_new_points(n, TU_SPHERE), *xt = tu_new_points(n, TU_CUBE), *q, *p;
    local l = take(x, n, TU_SPHERE, 6), lt = take(xt, n, TU_CUBE, 2);   /* (targets apart: their own sort) */
    tu_alloc a;
    long k, step = quick ? 7 : nranks <= 2 ? 1 : 4, tried = 0;   /* (every point at 1-2 ranks) */
    int done = 0;
    memset(&c, 0, sizeof c);
    c.order = 4;
    c.threads = 1;
    q = (double *)malloc((l.n + 1) * sizeof *q);
    p = (double *)malloc((l.n + lt.n + 1) * sizeof *p);
    for (i = 0; i < l.n; i++) q[i] = tu_rand() - 0.5;
    for (k = 0; !done && k < 100000; k += step) {
        kifmm *f = NULL;
        kifmm_status st, se = KIFMM_OK;
        c.allocator = tu_allocator(&a, rank == nranks - 1 ? k : -1);
        st = kifmm_mpi_create(&f, &c, MPI_COMM_WORLD, l.x, l.n, lt.x, lt.n);
        CHECK(same_everywhere((int)st), "allocation %ld failing: create statuses differ", k);
        CHECK(st == KIFMM_OK || st == KIFMM_ERR_OUT_OF_MEMORY, "allocation %ld failing: %s", k, kifmm_status_string(st));
        if (st == KIFMM_OK) {
            se = kifmm_evaluate(f, q, p, NULL);
            CHECK(same_everywhere((int)se), "allocation %ld failing: evaluate statuses differ", k);
            CHECK(se == KIFMM_OK || se == KIFMM_ERR_OUT_OF_MEMORY, "allocation %ld failing: evaluate %s", k,
                  kifmm_status_string(se));
            kifmm_destroy(f);
        }
        CHECK(a.live_blocks == 0 && a.bad_frees == 0, "allocation %ld failing: %ld blocks not given back, %ld bad sizes", k,
              a.live_blocks, a.bad_frees);
        done = st == KIFMM_OK && se == KIFMM_OK;
        MPI_Allreduce(MPI_IN_PLACE, &done, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        tried++;
    }
    CHECK(done, "create + evaluate never succeeded");
    /* the same for kifmm_set_points: a failed one leaves the object as it was, on every rank */
    {
        size_t n2 = 1200;
        double *x2 = tu_new_points(n2, TU_PLUMMER), *p0 = (double *)malloc((l.n + 1) * sizeof *p0);
        local l2 = take(x2, n2, TU_PLUMMER, 7);
        long k0 = -1, tried2 = 0;
        kifmm *f = NULL;
        kifmm_status st;
        c.allocator = tu_allocator(&a, -1);
        st = kifmm_mpi_create(&f, &c, MPI_COMM_WORLD, l.x, l.n, l.x, l.n);   /* (then to separate targets) */
        CHECK(st == KIFMM_OK, "set_points sweep: create %s", kifmm_status_string(st));
        if (st == KIFMM_OK) kifmm_evaluate(f, q, p0, NULL);
        for (k = 0, done = 0; st == KIFMM_OK && !done && k < 100000; k += step) {
            double e;
            long before = a.calls;
            a.fail_at = rank == nranks - 1 ? before + k : -1;
            st = kifmm_set_points(f, l2.x, l2.n, lt.x, lt.n);
            a.fail_at = -1;
            CHECK(same_everywhere((int)st), "set_points, allocation %ld failing: statuses differ", k);
            if (st == KIFMM_OK) { done = 1; k0 = k; break; }
            CHECK(st == KIFMM_ERR_OUT_OF_MEMORY, "set_points, allocation %ld failing: %s", k, kifmm_status_string(st));
            st = kifmm_evaluate(f, q, p, NULL);   /* the old points still: the same results */
            CHECK(st == KIFMM_OK, "after a failed set_points: %s", kifmm_status_string(st));
            e = rel_all(p, p0, l.n);
            CHECK(e == 0, "after a failed set_points (allocation %ld): %.2e from before", k, e);
            tried2++;
        }
        MPI_Allreduce(MPI_IN_PLACE, &done, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        CHECK(done, "set_points never succeeded");
        if (f) kifmm_destroy(f);
        CHECK(a.live_blocks == 0 && a.bad_frees == 0, "set_points sweep: %ld blocks not given back, %ld bad sizes",
              a.live_blocks, a.bad_frees);
        if (rank == 0) printf("set_points with the allocator failing: %ld failure points tried (success at +%ld)\n", tried2, k0);
        drop(&l2);
        free(x2); free(p0);
    }
    if (rank == 0) printf("allocator failing on rank %d: %ld failure points tried, same status everywhere\n", nranks - 1, tried);
    drop(&l); drop(&lt);
    free(x); free(xt); free(q); free(p);
}

/* no points anywhere, and points on one rank only */
static void test_empty(void) {
    kifmm_config c;
    kifmm *f = NULL;
    double x[6] = {0.1, 0.2, 0.3, 0.7, 0.8, 0.9}, q[2] = {1, -1}, p[2], g[6];
    kifmm_status st;
    size_t n = rank == 0 ? 2 : 0;
    memset(&c, 0, sizeof c);
    c.threads = 1;
    st = kifmm_mpi_create(&f, &c, MPI_COMM_WORLD, NULL, 0, NULL, 0);
    CHECK(st == KIFMM_OK, "no points: %s", kifmm_status_string(st));
    if (st == KIFMM_OK) {
        st = kifmm_evaluate(f, NULL, NULL, NULL);
        CHECK(st == KIFMM_OK, "no points: evaluate %s", kifmm_status_string(st));
        kifmm_destroy(f);
    }
    st = kifmm_mpi_create(&f, &c, MPI_COMM_WORLD, x, n, x, n);
    CHECK(st == KIFMM_OK, "two points on rank 0: %s", kifmm_status_string(st));
    if (st == KIFMM_OK) {
        st = kifmm_evaluate(f, q, p, g);
        CHECK(st == KIFMM_OK, "two points on rank 0: evaluate %s", kifmm_status_string(st));
        if (rank == 0) {
            double r = sqrt(3 * 0.36), e = -1 / (4 * 3.141592653589793 * r);
            CHECK(fabs(p[0] - e) < 1e-14 && fabs(p[1] + e) < 1e-14, "two points: %g %g, want %g %g", p[0], p[1], e, -e);
        }
        kifmm_destroy(f);
    }
}

int main(int argc, char **argv) {
    int quick = argc > 1 && strcmp(argv[1], "quick") == 0, fails;
    size_t c;
    static const fmm_case cases[] = {
        {"Laplace cube", TU_CUBE, KIFMM_KERNEL_LAPLACE, 1, 1, 0, 0, 1, 6, 20000, 0, 1e-4, 1e-3},
        {"Laplace sphere, dip+hess nd2", TU_SPHERE, KIFMM_KERNEL_LAPLACE, 0, 2, 1, 1, 1, 6, 12000, 0, 1e-4, 1e-3},
        {"Yukawa two clusters", TU_TWO_CLUSTERS, KIFMM_KERNEL_YUKAWA, 1, 1, 0, 0, 1, 4, 12000, 3.0, 1e-3, 1e-2},
        {"Laplace plummer, s/t apart", TU_PLUMMER, KIFMM_KERNEL_LAPLACE, 2, 1, 0, 0, 1, 5, 10000, 0, 1e-3, 1e-2},
        {"Stokes plummer", TU_PLUMMER, KIFMM_KERNEL_STOKES, 1, 1, 0, 0, 1, 5, 8000, 1.0, 1e-3, 1e-2},
        {"user kernel (Laplace) cube", TU_CUBE, KIFMM_KERNEL_USER, 1, 1, 0, 0, 0, 4, 4000, 0, 1e-3, 1},
    };
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double t0 = MPI_Wtime();
        run_case(&cases[c], quick);
        if (rank == 0 && getenv("TEST_MPI_TIMES")) printf("  (%.2f s)\n", MPI_Wtime() - t0);
    }
    test_set_points();
    test_bad_input();
    test_empty();
    test_alloc_failures(quick);
    fails = tu_failures;
    MPI_Allreduce(MPI_IN_PLACE, &fails, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("test_mpi on %d ranks: %s (%d failures)\n", nranks, fails ? "FAILED" : "all passed", fails);
    MPI_Finalize();
    return fails ? 1 : 0;
}
