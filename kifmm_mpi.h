/* kifmm_mpi.h - kifmm over MPI: the same object, its points spread over the ranks of a communicator.

   USAGE
     #include <mpi.h>
     #define KIFMM_IMPLEMENTATION          (in one .c file; kifmm_mpi.h includes kifmm.h)
     #define KIFMM_MPI_IMPLEMENTATION      (in the same file)
     #include "kifmm_mpi.h"

     kifmm *f;
     kifmm_status st = kifmm_mpi_create(&f, &cfg, MPI_COMM_WORLD, src, ns_local, tgt, nt_local);
     st = kifmm_evaluate(f, q_local, pot_local, grad_local);   (and _ex, set_points, get_stats)
     kifmm_destroy(f);

   Every call on the object is collective over the communicator (which kifmm duplicates). Each rank
   passes its own points, in any number (0 too), and receives its own targets' results in its own
   order; the results are those of one kifmm object over the union of all ranks' points, to
   rounding. Every rank returns the same status: the first failing rank's (by rank), and the others
   log "rank r failed" through their own logger. kifmm.h never needs mpi.h.

   HOW (DESIGN.md section 9)
     1. The root cube from the bounding box over all ranks. The tree is refined level by level with
        one reduction of the candidate boxes' counts per level, then 2:1 balanced: every rank holds
        the same tree *structure* (boxes and lists, no points), which is exactly the one-node tree.
     2. The leaves, in Morton order, are cut into one contiguous range per rank of about equal
        estimated work (near-field pairs, surface work, V/W/X list lengths), and the points move
        to the rank owning their leaf (one all-to-all).
     3. The locally essential tree: each rank asks for the source points of the remote leaves its
        U, X and direct-W lists read, and for the multipoles of the remote boxes its V and W lists
        read. A box's multipole is the sum of partial multipoles from every rank holding sources in
        it, so each such rank sends its part. The coordinates move once (create); charges, ghost
        charges (non-blocking, behind the upward pass) and multipoles move every evaluation.
     4. Upward pass on the own leaves only, the exchange, then the downward and leaf passes on
        the boxes that hold own targets; results travel back to the calling ranks.
   Limits: the tree structure is replicated (O(boxes) memory and list work per rank, about N / 100
   boxes), which is what stops this scheme short of thousands of ranks (README "MPI").

   LICENSE: MIT, see the end of kifmm.h. */
#ifndef KIFMM_MPI_H
#define KIFMM_MPI_H

#include "kifmm.h"
#include <limits.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Collective over comm. Each rank passes its own points (any count, 0 allowed). */
KIFMM_DEF kifmm_status kifmm_mpi_create(kifmm **out, const kifmm_config *config, MPI_Comm comm,
                                         const double *sources, size_t nsources_local,
                                         const double *targets, size_t ntargets_local);

typedef struct kifmm_mpi_info {      /* this rank's share, after create / the last evaluate */
    int    rank, size;
    size_t own_sources, own_targets;  /* points this rank's leaves hold (after the redistribution) */
    size_t ghost_sources;             /* remote sources it holds for its U, X and direct W lists */
    size_t let_boxes;                 /* remote partial multipoles it receives per evaluation */
    size_t bytes_sent_create;         /* bytes sent to other ranks by the last create / set_points */
    size_t bytes_sent_evaluate;       /* bytes sent to other ranks by the last evaluate */
    size_t bytes_sent_let;            /* of which the locally essential tree: ghost charges + multipoles */
    double work_estimate;             /* this rank's share of the estimated work, 0..1 */
} kifmm_mpi_info;

/* Not collective. KIFMM_ERR_INVALID_ARGUMENT for an object kifmm_mpi_create did not make. */
KIFMM_DEF kifmm_status kifmm_mpi_get_info(const kifmm *fmm, kifmm_mpi_info *info);

#ifdef __cplusplus
}
#endif
#endif /* KIFMM_MPI_H */

#if defined(KIFMM_MPI_IMPLEMENTATION) && !defined(KIFMM_MPI_IMPLEMENTATION_DONE)
#define KIFMM_MPI_IMPLEMENTATION_DONE
#ifndef KIFMM_IMPLEMENTATION
#error "kifmm_mpi.h: define KIFMM_IMPLEMENTATION in the file that defines KIFMM_MPI_IMPLEMENTATION"
#endif

/* the most points a rank passes, holds after the move, or receives as ghosts: MPI's counts and
   displacements are int, and a ghost's rows are up to 3 doubles */
#define KIFMM__MPI_MAX_ITEMS (INT_MAX / 8)

/* one all-to-all pattern in items: counts and displacements sent, received (4 size ints) */
enum { KIFMM__PS, KIFMM__PSD, KIFMM__PR, KIFMM__PRD };

typedef struct kifmm__mpi {
    MPI_Comm comm;
    int rank, size;
    kifmm_allocator al;
    kifmm_config cfg_log;              /* (the object's config: its logger, for messages from here) */
    size_t ns_in, nt_in;               /* the caller's counts */
    size_t ns_own, nt_own, ng;         /* own points after the move, ghost sources */
    int *plan;                         /* 4 patterns x 4 x size: sources, targets, ghosts, multipoles */
    size_t *s_order, *t_order;         /* caller's indices in sending order */
    size_t *g_send, ng_send;           /* own source indices sent as ghosts, by requesting rank */
    int *m_send, *m_recv;              /* boxes sent / received as partial multipoles, by rank */
    size_t nm_send, nm_recv;
    int *need;                         /* boxes summed from the received parts */
    size_t nneed;
    int leaf_lo, leaf_hi;              /* own leaves: tree.leaf[leaf_lo .. leaf_hi - 1] */
    int range[KIFMM_MAX_DEPTH + 1][2]; /* per level: the boxes over the own leaves (kifmm__eval.range) */
    double work;
    /* during an evaluation */
    const kifmm_eval_desc *udesc;
    double *mbuf_s, *mbuf_r;
    MPI_Request req[2];
    MPI_Datatype rty[2];
    int nreq;
    int other_failed;                  /* the commit's agreement failed on another rank */
    size_t bytes_create, bytes_eval, bytes_let;
} kifmm__mpi;

#define KIFMM__PLAN(m, k) ((m)->plan + (size_t)(k) * 4 * (size_t)(m)->size)
#define KIFMM__PL(m, k, part) (KIFMM__PLAN(m, k) + (size_t)(part) * (size_t)(m)->size)
enum { KIFMM__P_SRC, KIFMM__P_TGT, KIFMM__P_GHOST, KIFMM__P_MULT };

static const kifmm__dist_vt kifmm__mpi_vt;

/* ---- agreement ----------------------------------------------------------------------------- */
/* every rank's status becomes the first failing rank's; the others log it */
static kifmm_status kifmm__mpi_agree(MPI_Comm comm, const kifmm_config *c, kifmm_status st, const char *what) {
    int rank, size, mine, first, s = (int)st;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    mine = st != KIFMM_OK ? rank : size;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
    if (first == size) return KIFMM_OK;
    MPI_Bcast(&s, 1, MPI_INT, first, comm);
    if (rank != first)
        kifmm__log(c, (kifmm_status)s, "%s failed on rank %d: %s", what, first, kifmm_status_string((kifmm_status)s));
    return (kifmm_status)s;
}

static int kifmm__mpi_all_ok(void *user, int ok) {
    kifmm__mpi *m = (kifmm__mpi *)user;
    int all;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, m->comm);
    return all;
}

/* ---- the tree over all ranks ------------------------------------------------------------------ */
/* kifmm__tree_opt.decide: the candidates' counts, neighbours' sources and key span over all ranks */
static int kifmm__mpi_decide(void *user, const kifmm_tree *t, const uint64_t *smort, const uint64_t *tmort, int l,
                             const uint64_t *cand, size_t n, unsigned char *flag) {
    kifmm__mpi *m = (kifmm__mpi *)user;
    uint64_t *sum = NULL, *mn = NULL;
    size_t i, bytes = 5 * n * sizeof(uint64_t);
    int ok = flag != NULL, all;
    if (ok && n) ok = (sum = (uint64_t *)kifmm__alloc(&m->al, bytes)) != NULL;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, m->comm);
    if (!all || n == 0) { kifmm__free(&m->al, sum, bytes); return all; }
    mn = sum + 3 * n;
    for (i = 0; i < n; i++) {
        size_t sb, se, tb, te;
        kifmm__range(smort, 0, t->nsources, cand[i], l, &sb, &se);
        kifmm__range(tmort, 0, t->ntargets, cand[i], l, &tb, &te);
        sum[3 * i] = se - sb;
        sum[3 * i + 1] = te - tb;
        sum[3 * i + 2] = kifmm__near_sources(t, smort, cand[i], l, 0);
        mn[2 * i] = mn[2 * i + 1] = ~(uint64_t)0;      /* (min key, complement of the max key) */
        if (se > sb) { mn[2 * i] = smort[sb]; mn[2 * i + 1] = ~smort[se - 1]; }
        if (te > tb) {
            if (tmort[tb] < mn[2 * i]) mn[2 * i] = tmort[tb];
            if (~tmort[te - 1] < mn[2 * i + 1]) mn[2 * i + 1] = ~tmort[te - 1];
        }
    }
    MPI_Allreduce(MPI_IN_PLACE, sum, (int)(3 * n), MPI_UINT64_T, MPI_SUM, m->comm);
    MPI_Allreduce(MPI_IN_PLACE, mn, (int)(2 * n), MPI_UINT64_T, MPI_MIN, m->comm);
    for (i = 0; i < n; i++)
        flag[i] = (unsigned char)kifmm__split_rule(t, sum[3 * i], sum[3 * i + 1], sum[3 * i + 2],
                                                   mn[2 * i] == ~mn[2 * i + 1]);
    kifmm__free(&m->al, sum, bytes);
    return 1;
}

/* kifmm__tree_opt.counts: every box's counts over all ranks (first build) */
static kifmm_status kifmm__mpi_counts(void *user, kifmm_tree *t, int ok) {
    kifmm__mpi *m = (kifmm__mpi *)user;
    size_t nb = ok ? (size_t)t->nboxes : 0, i;
    uint64_t *c = NULL;
    if (ok) {
        c = (uint64_t *)kifmm__alloc(&m->al, 2 * nb * sizeof *c);
        t->gsrc = (size_t *)kifmm__alloc(&t->alloc, nb * sizeof *t->gsrc);
        t->gtgt = (size_t *)kifmm__alloc(&t->alloc, nb * sizeof *t->gtgt);
        ok = c && t->gsrc && t->gtgt;
    }
    if (kifmm__mpi_all_ok(m, ok)) {
        for (i = 0; i < nb; i++) {
            c[2 * i] = t->src_end[i] - t->src_begin[i];
            c[2 * i + 1] = t->tgt_end[i] - t->tgt_begin[i];
        }
        MPI_Allreduce(MPI_IN_PLACE, c, (int)(2 * nb), MPI_UINT64_T, MPI_SUM, m->comm);
        for (i = 0; i < nb; i++) { t->gsrc[i] = (size_t)c[2 * i]; t->gtgt[i] = (size_t)c[2 * i + 1]; }
        t->bytes += 2 * nb * sizeof(size_t);
        kifmm__free(&m->al, c, 2 * nb * sizeof *c);
        return KIFMM_OK;
    }
    kifmm__free(&m->al, c, 2 * nb * sizeof *c);
    kifmm__free(&t->alloc, t->gsrc, nb * sizeof *t->gsrc);
    kifmm__free(&t->alloc, t->gtgt, nb * sizeof *t->gtgt);
    t->gsrc = t->gtgt = NULL;
    return KIFMM_ERR_OUT_OF_MEMORY;
}

/* later builds (same structure, other points): the counts of the first */
typedef struct kifmm__mpi_copy { const size_t *gsrc, *gtgt; } kifmm__mpi_copy;
static kifmm_status kifmm__mpi_copy_counts(void *user, kifmm_tree *t, int ok) {
    const kifmm__mpi_copy *c = (const kifmm__mpi_copy *)user;
    size_t nb = (size_t)t->nboxes;
    if (!ok) return KIFMM_OK;              /* (the build reports its own failure) */
    t->gsrc = (size_t *)kifmm__alloc(&t->alloc, nb * sizeof *t->gsrc);
    t->gtgt = (size_t *)kifmm__alloc(&t->alloc, nb * sizeof *t->gtgt);
    if (!t->gsrc || !t->gtgt) {
        kifmm__free(&t->alloc, t->gsrc, nb * sizeof *t->gsrc);
        kifmm__free(&t->alloc, t->gtgt, nb * sizeof *t->gtgt);
        t->gsrc = t->gtgt = NULL;
        return KIFMM_ERR_OUT_OF_MEMORY;
    }
    memcpy(t->gsrc, c->gsrc, nb * sizeof *t->gsrc);
    memcpy(t->gtgt, c->gtgt, nb * sizeof *t->gtgt);
    t->bytes += 2 * nb * sizeof(size_t);
    return KIFMM_OK;
}

/* ---- the partition ------------------------------------------------------------------------- */
/* estimated work of a leaf in near-field pair units: its P2P pairs, its points' surface work and
   its V, W, X lists (an M2L pair costs about n^2 / 8 pairs at the compressed rank) */
static double kifmm__mpi_leaf_work(const kifmm_tree *t, int b, int n) {
    double w = 0, nt = (double)t->gtgt[b], s = (double)n;
    size_t j;
    for (j = t->u_off[b]; j < t->u_off[b + 1]; j++) w += nt * (double)t->gsrc[t->u_idx[j]];
    w += s * (double)(t->gsrc[b] + t->gtgt[b]) * 2;
    w += s * s / 8 * (double)(t->v_off[b + 1] - t->v_off[b] + t->w_off[b + 1] - t->w_off[b] + t->x_off[b + 1] - t->x_off[b]);
    return w + 1;
}

/* own leaf ranges of every rank: lo[r] .. lo[r+1]-1 in tree.leaf order, equal shares of the work */
static int kifmm__mpi_partition(kifmm__mpi *m, const kifmm_tree *t, int n, int *lo) {
    double *pre = (double *)kifmm__alloc(&m->al, ((size_t)t->nleaves + 1) * sizeof *pre), tot;
    int i, r;
    if (!pre) return 0;
    pre[0] = 0;
    for (i = 0; i < t->nleaves; i++) pre[i + 1] = pre[i] + kifmm__mpi_leaf_work(t, t->leaf[i], n);
    tot = pre[t->nleaves];
    lo[0] = 0;
    for (r = 1, i = 0; r < m->size; r++) {
        double cut = tot * r / m->size;
        while (i < t->nleaves && pre[i + 1] <= cut) i++;
        if (i < t->nleaves && cut - pre[i] > pre[i + 1] - cut) i++;   /* the nearer boundary */
        lo[r] = i < lo[r - 1] ? lo[r - 1] : i;
    }
    lo[m->size] = t->nleaves;
    m->work = tot > 0 ? (pre[lo[m->rank + 1]] - pre[lo[m->rank]]) / tot : 0;
    kifmm__free(&m->al, pre, ((size_t)t->nleaves + 1) * sizeof *pre);
    return 1;
}

static int kifmm__mpi_owner(const int *lo, int size, int pos) {    /* rank of leaf position pos */
    int a = 0, b = size - 1;
    while (a < b) {
        int c = (a + b + 1) / 2;
        if (lo[c] <= pos) a = c; else b = c - 1;
    }
    return a;
}

/* ---- all-to-all helpers ------------------------------------------------------------------- */
static void kifmm__mpi_displs(int size, const int *cnt, int *dsp) {
    int r;
    dsp[0] = 0;
    for (r = 1; r < size; r++) dsp[r] = dsp[r - 1] + cnt[r - 1];
}

/* items of w doubles along pattern k (reverse: back along it); req: non-blocking */
static void kifmm__mpi_move(kifmm__mpi *m, int k, int reverse, const double *s, double *r, int w, MPI_Request *req,
                            MPI_Datatype *ty, size_t *bytes) {
    const int *sc = KIFMM__PL(m, k, reverse ? KIFMM__PR : KIFMM__PS), *sd = KIFMM__PL(m, k, reverse ? KIFMM__PRD : KIFMM__PSD);
    const int *rc = KIFMM__PL(m, k, reverse ? KIFMM__PS : KIFMM__PR), *rd = KIFMM__PL(m, k, reverse ? KIFMM__PSD : KIFMM__PRD);
    MPI_Datatype t;
    int p;
    MPI_Type_contiguous(w, MPI_DOUBLE, &t);
    MPI_Type_commit(&t);
    if (bytes)
        for (p = 0; p < m->size; p++)
            if (p != m->rank) *bytes += (size_t)sc[p] * (size_t)w * sizeof(double);
    if (req) { MPI_Ialltoallv(s, sc, sd, t, r, rc, rd, t, m->comm, req); *ty = t; return; }
    MPI_Alltoallv(s, sc, sd, t, r, rc, rd, t, m->comm);
    MPI_Type_free(&t);
}

/* ---- the state ------------------------------------------------------------------------------ */
static void kifmm__mpi_free(kifmm__mpi *m) {
    kifmm_allocator al;
    if (!m) return;
    al = m->al;
    kifmm__free(&al, m->plan, 16 * (size_t)m->size * sizeof *m->plan);
    kifmm__free(&al, m->s_order, m->ns_in * sizeof *m->s_order);
    kifmm__free(&al, m->t_order, m->nt_in * sizeof *m->t_order);
    kifmm__free(&al, m->g_send, (m->ng_send ? m->ng_send : 1) * sizeof *m->g_send);
    kifmm__free(&al, m->m_send, (m->nm_send ? m->nm_send : 1) * sizeof *m->m_send);
    kifmm__free(&al, m->m_recv, (m->nm_recv ? m->nm_recv : 1) * sizeof *m->m_recv);
    kifmm__free(&al, m->need, (m->nneed ? m->nneed : 1) * sizeof *m->need);
    if (m->comm != MPI_COMM_NULL) MPI_Comm_free(&m->comm);
    kifmm__free(&al, m, sizeof *m);
}

/* first and last leaf position under every box */
static int kifmm__mpi_leaf_spans(kifmm__mpi *m, const kifmm_tree *t, int **span) {
    size_t nb = (size_t)t->nboxes;
    int *s = (int *)kifmm__alloc(&m->al, 2 * nb * sizeof *s), i, b;
    if (!(*span = s)) return 0;
    for (i = 0; i < (int)nb; i++) { s[2 * i] = t->nleaves; s[2 * i + 1] = -1; }
    for (i = 0; i < t->nleaves; i++) s[2 * t->leaf[i]] = s[2 * t->leaf[i] + 1] = i;
    for (b = (int)nb - 1; b > 0; b--) {        /* children come after their parents */
        int p = t->parent[b];
        if (s[2 * b] < s[2 * p]) s[2 * p] = s[2 * b];
        if (s[2 * b + 1] > s[2 * p + 1]) s[2 * p + 1] = s[2 * b + 1];
    }
    return 1;
}

/* what this rank's targets read from remote ranks: leaves whose points (mark 1) and boxes whose
   multipoles (mark 2) are needed, on the tree of its own points */
static void kifmm__mpi_mark(const kifmm_tree *t, int n, const int *span, int lo, int hi, unsigned char *mark) {
    int b;
    size_t j;
    for (b = 0; b < t->nboxes; b++) {
        if (t->tgt_end[b] == t->tgt_begin[b]) continue;
        for (j = t->v_off[b]; j < t->v_off[b + 1]; j++)
            if (t->gsrc[t->v_idx[j]]) mark[t->v_idx[j]] |= 2;
        for (j = t->x_off[b]; j < t->x_off[b + 1]; j++) mark[t->x_idx[j]] |= 1;
        if (t->child[b] >= 0) continue;
        for (j = t->u_off[b]; j < t->u_off[b + 1]; j++) mark[t->u_idx[j]] |= 1;
        for (j = t->w_off[b]; j < t->w_off[b + 1]; j++) {
            int w = t->w_idx[j], i;
            if (t->gsrc[w] == 0) continue;
            if (t->gsrc[w] > (size_t)n) { mark[w] |= 2; continue; }
            for (i = span[2 * w]; i <= span[2 * w + 1]; i++) mark[t->leaf[i]] |= 1;
        }
    }
    for (b = 0; b < t->nleaves; b++)            /* own leaves and empty ones need nothing */
        if ((b >= lo && b < hi) || t->gsrc[t->leaf[b]] == 0) mark[t->leaf[b]] &= (unsigned char)~1u;
}

/* whether rank r holds sources under box b (pre: prefix sums of the leaves' source counts) */
static int kifmm__mpi_holds(const double *pre, const int *lo, int r, const int *span, int b) {
    int a = span[2 * b] > lo[r] ? span[2 * b] : lo[r];
    int e = span[2 * b + 1] + 1 < lo[r + 1] ? span[2 * b + 1] + 1 : lo[r + 1];
    return e > a && pre[e] - pre[a] > 0;
}

/* for each wanted box (mark bit 2) the ranks holding sources under it; a box only this rank
   holds needs no exchange (its partial multipole is whole). Calls f(ctx, b, r) per pair. */
#define KIFMM__MPI_HOLDERS(b, r, body)                                                              \
    for (r = kifmm__mpi_owner(lo, P, span[2 * (b)]); r <= kifmm__mpi_owner(lo, P, span[2 * (b) + 1]); r++) \
        if (kifmm__mpi_holds(pre, lo, r, span, b)) { body; }

typedef struct kifmm__mpi_let_work {
    unsigned char *mark;
    int *span, *pl, *ml, *cnt, *got;
    double *pre;
    size_t np, nm, ngot;
} kifmm__mpi_let_work;

static void kifmm__mpi_let_free(kifmm__mpi *m, const kifmm_tree *t, kifmm__mpi_let_work *w) {
    size_t nb = (size_t)t->nboxes;
    kifmm__free(&m->al, w->mark, nb);
    kifmm__free(&m->al, w->span, 2 * nb * sizeof *w->span);
    kifmm__free(&m->al, w->pre, ((size_t)t->nleaves + 1) * sizeof *w->pre);
    kifmm__free(&m->al, w->cnt, 4 * (size_t)m->size * sizeof *w->cnt);
    kifmm__free(&m->al, w->pl, (w->np ? w->np : 1) * sizeof *w->pl);
    kifmm__free(&m->al, w->ml, (w->nm ? w->nm : 1) * sizeof *w->ml);
    kifmm__free(&m->al, w->got, (w->ngot ? w->ngot : 1) * sizeof *w->got);
}

/* which boxes' points and partial multipoles go where, on the tree of the own points. Each step
   allocates, then all ranks agree, then they communicate: a failure anywhere fails everywhere. */
static kifmm_status kifmm__mpi_let(kifmm__mpi *m, const kifmm_tree *t, int n, const int *lo) {
    kifmm__mpi_let_work w;
    size_t nb = (size_t)t->nboxes, i, j, k, c;
    int P = m->size, r, b, ok, *pc, *mc, *rpc, *ms;
    int *gs = KIFMM__PL(m, KIFMM__P_GHOST, KIFMM__PS), *gr = KIFMM__PL(m, KIFMM__P_GHOST, KIFMM__PR);
    memset(&w, 0, sizeof w);
    m->nneed = 0;
    w.mark = (unsigned char *)kifmm__alloc(&m->al, nb);
    w.pre = (double *)kifmm__alloc(&m->al, ((size_t)t->nleaves + 1) * sizeof *w.pre);
    w.cnt = (int *)kifmm__alloc(&m->al, 4 * (size_t)P * sizeof *w.cnt);
    ok = w.mark && w.pre && w.cnt && kifmm__mpi_leaf_spans(m, t, &w.span);
    if (ok) {
        unsigned char *mark = w.mark;
        int *span = w.span;
        double *pre = w.pre;
        memset(mark, 0, nb);
        kifmm__mpi_mark(t, n, span, m->leaf_lo, m->leaf_hi, mark);
        pre[0] = 0;
        for (i = 0; i < (size_t)t->nleaves; i++) pre[i + 1] = pre[i] + (double)t->gsrc[t->leaf[i]];
        for (b = 0; b < (int)nb; b++) {
            int others = 0, holders = 0;
            w.np += mark[b] & 1;
            if (!(mark[b] & 2)) continue;
            KIFMM__MPI_HOLDERS(b, r, holders++; others += r != m->rank)
            if (!others) mark[b] &= (unsigned char)~2u;
            else { m->nneed++; w.nm += (size_t)holders; }
        }
        w.pl = (int *)kifmm__alloc(&m->al, (w.np ? w.np : 1) * sizeof *w.pl);
        w.ml = (int *)kifmm__alloc(&m->al, (w.nm ? w.nm : 1) * sizeof *w.ml);
        m->need = (int *)kifmm__alloc(&m->al, (m->nneed ? m->nneed : 1) * sizeof *m->need);
        m->m_recv = (int *)kifmm__alloc(&m->al, (w.nm ? w.nm : 1) * sizeof *m->m_recv);
        m->nm_recv = w.nm;
        ok = w.pl && w.ml && m->need && m->m_recv;
    }
    if (!kifmm__mpi_all_ok(m, ok)) goto fail;
    pc = w.cnt; mc = w.cnt + P; rpc = w.cnt + 2 * P;
    ms = KIFMM__PL(m, KIFMM__P_MULT, KIFMM__PS);
    {   /* requests grouped by rank, in box order within each */
        unsigned char *mark = w.mark;
        int *span = w.span, *cur = w.cnt + 3 * P;
        double *pre = w.pre;
        memset(pc, 0, 2 * (size_t)P * sizeof *pc);
        for (b = 0; b < (int)nb; b++) {
            if (mark[b] & 1) pc[kifmm__mpi_owner(lo, P, span[2 * b])]++;
            if (mark[b] & 2) KIFMM__MPI_HOLDERS(b, r, mc[r]++)
        }
        kifmm__mpi_displs(P, pc, cur);
        for (b = 0; b < (int)nb; b++)
            if (mark[b] & 1) w.pl[cur[kifmm__mpi_owner(lo, P, span[2 * b])]++] = b;
        kifmm__mpi_displs(P, mc, cur);
        for (b = 0, k = 0; b < (int)nb; b++)
            if (mark[b] & 2) {
                m->need[k++] = b;
                KIFMM__MPI_HOLDERS(b, r, w.ml[cur[r]++] = b)
            }
        for (r = 0, c = 0; r < P; r++) gr[r] = 0;
        for (j = 0; j < w.np; j++) c += t->gsrc[w.pl[j]];
        for (j = 0; j < w.np && c <= KIFMM__MPI_MAX_ITEMS; j++) gr[kifmm__mpi_owner(lo, P, span[2 * w.pl[j]])] += (int)t->gsrc[w.pl[j]];
    }
    if (!kifmm__mpi_all_ok(m, c <= KIFMM__MPI_MAX_ITEMS)) {
        kifmm__log(&m->cfg_log, KIFMM_ERR_INVALID_ARGUMENT, "kifmm_mpi_create: a rank would receive more than %d ghost "
                   "sources (here %zu)", KIFMM__MPI_MAX_ITEMS, c);
        kifmm__mpi_let_free(m, t, &w);
        return KIFMM_ERR_INVALID_ARGUMENT;
    }
    memcpy(m->m_recv, w.ml, w.nm * sizeof *w.ml);
    m->nm_recv = w.nm;
    memcpy(KIFMM__PL(m, KIFMM__P_MULT, KIFMM__PR), mc, (size_t)P * sizeof *mc);
    /* the requests travel: counts, then lists */
    MPI_Alltoall(pc, 1, MPI_INT, rpc, 1, MPI_INT, m->comm);
    MPI_Alltoall(mc, 1, MPI_INT, ms, 1, MPI_INT, m->comm);
    for (r = 0, w.ngot = 0, m->nm_send = 0; r < P; r++) { w.ngot += (size_t)rpc[r]; m->nm_send += (size_t)ms[r]; }
    w.got = (int *)kifmm__alloc(&m->al, (w.ngot ? w.ngot : 1) * sizeof *w.got);
    m->m_send = (int *)kifmm__alloc(&m->al, (m->nm_send ? m->nm_send : 1) * sizeof *m->m_send);
    if (!kifmm__mpi_all_ok(m, w.got && m->m_send)) goto fail;
    {
        int *sd = w.cnt + 3 * P, *rd = KIFMM__PL(m, KIFMM__P_GHOST, KIFMM__PSD);   /* (scratch) */
        kifmm__mpi_displs(P, pc, sd);
        kifmm__mpi_displs(P, rpc, rd);
        MPI_Alltoallv(w.pl, pc, sd, MPI_INT, w.got, rpc, rd, MPI_INT, m->comm);
        kifmm__mpi_displs(P, mc, sd);
        kifmm__mpi_displs(P, ms, rd);
        MPI_Alltoallv(w.ml, mc, sd, MPI_INT, m->m_send, ms, rd, MPI_INT, m->comm);
    }
    /* the points this rank sends for the leaves asked of it, rank by rank */
    for (r = 0, j = 0, c = 0; r < P; r++) {
        gs[r] = 0;
        for (k = 0; k < (size_t)rpc[r]; k++, j++) gs[r] += (int)(t->src_end[w.got[j]] - t->src_begin[w.got[j]]);
        c += (size_t)gs[r];
    }
    m->g_send = (size_t *)kifmm__alloc(&m->al, (c ? c : 1) * sizeof *m->g_send);
    m->ng_send = c;
    if (!kifmm__mpi_all_ok(m, m->g_send != NULL)) goto fail;
    for (j = 0, c = 0; j < w.ngot; j++)
        for (k = t->src_begin[w.got[j]]; k < t->src_end[w.got[j]]; k++) m->g_send[c++] = t->src_perm[k];
    kifmm__mpi_displs(P, gs, KIFMM__PL(m, KIFMM__P_GHOST, KIFMM__PSD));
    kifmm__mpi_displs(P, gr, KIFMM__PL(m, KIFMM__P_GHOST, KIFMM__PRD));
    kifmm__mpi_displs(P, ms, KIFMM__PL(m, KIFMM__P_MULT, KIFMM__PSD));
    kifmm__mpi_displs(P, mc, KIFMM__PL(m, KIFMM__P_MULT, KIFMM__PRD));
    for (m->ng = 0, r = 0; r < P; r++) m->ng += (size_t)gr[r];
    kifmm__mpi_let_free(m, t, &w);
    return KIFMM_OK;
fail:
    kifmm__mpi_let_free(m, t, &w);
    return KIFMM_ERR_OUT_OF_MEMORY;
}

/* per level, the box range this rank's passes work on: the boxes over its own leaves (a
   contiguous run, the leaves being one); and the boxes whose vectors it stores: those, their
   parents' other children (which M2M reads and L2L writes), the V sources of the ones with own
   targets, and every box whose part or sum travels. stored: nboxes bytes, the caller's. */
static void kifmm__mpi_ranges(kifmm__mpi *m, const kifmm_tree *t, const int *span, unsigned char *stored) {
    int l, b;
    size_t j;
    memset(stored, 0, (size_t)t->nboxes);
    for (l = 0; l <= KIFMM_MAX_DEPTH; l++) {
        int r[2] = {INT_MAX, -1};
        for (b = t->level_begin[l]; b < t->level_begin[l + 1]; b++) {
            if (m->leaf_lo >= m->leaf_hi || span[2 * b] >= m->leaf_hi || span[2 * b + 1] < m->leaf_lo) continue;
            if (b < r[0]) r[0] = b;
            if (b > r[1]) r[1] = b;
            stored[b] = 1;
            if (t->tgt_end[b] == t->tgt_begin[b]) continue;
            for (j = t->v_off[b]; j < t->v_off[b + 1]; j++) stored[t->v_idx[j]] = 1;
        }
        m->range[l][0] = r[1] >= 0 ? r[0] : 0;
        m->range[l][1] = r[1] + 1;
    }
    for (b = 1; b < t->nboxes; b++) {
        int p = t->parent[b], pl = kifmm__key_level(t->key[p]);
        if (p >= m->range[pl][0] && p < m->range[pl][1]) stored[b] = 1;
    }
    for (j = 0; j < m->nneed; j++) stored[m->need[j]] = 1;
    for (j = 0; j < m->nm_send; j++) stored[m->m_send[j]] = 1;
}

/* ---- building -------------------------------------------------------------------------------- */
/* kifmm__build_on_tree's agreement: remembers whether the failure was another rank's */
static int kifmm__mpi_commit_ok(void *user, int ok) {
    kifmm__mpi *m = (kifmm__mpi *)user;
    int all = kifmm__mpi_all_ok(m, ok);
    m->other_failed = ok && !all;
    return all;
}

/* points as rows of 3 from the tree's sorted planes, sorted positions lo .. hi */
static void kifmm__mpi_rows(const double *planes, size_t n, size_t lo, size_t hi, double *out) {
    size_t j;
    for (j = lo; j < hi; j++) {
        out[3 * (j - lo)] = planes[j];
        out[3 * (j - lo) + 1] = planes[n + j];
        out[3 * (j - lo) + 2] = planes[2 * n + j];
    }
}

/* the own points' move: counts by the owners of the first tree's leaves, then the rows */
static kifmm_status kifmm__mpi_move_points(kifmm__mpi *m, const kifmm_tree *t1, const int *llo, double **sown,
                                           double **town) {
    int P = m->size, i, r, *sc = KIFMM__PL(m, KIFMM__P_SRC, KIFMM__PS), *tc = KIFMM__PL(m, KIFMM__P_TGT, KIFMM__PS);
    double *sb, *tb;
    size_t ns = t1->nsources, nt = t1->ntargets;
    for (r = 0; r < P; r++) sc[r] = tc[r] = 0;
    for (i = 0; i < t1->nleaves; i++) {
        int b = t1->leaf[i];
        r = kifmm__mpi_owner(llo, P, i);
        sc[r] += (int)(t1->src_end[b] - t1->src_begin[b]);
        tc[r] += (int)(t1->tgt_end[b] - t1->tgt_begin[b]);
    }
    MPI_Alltoall(sc, 1, MPI_INT, KIFMM__PL(m, KIFMM__P_SRC, KIFMM__PR), 1, MPI_INT, m->comm);
    MPI_Alltoall(tc, 1, MPI_INT, KIFMM__PL(m, KIFMM__P_TGT, KIFMM__PR), 1, MPI_INT, m->comm);
    for (m->ns_own = m->nt_own = 0, r = 0; r < P; r++) {
        m->ns_own += (size_t)KIFMM__PL(m, KIFMM__P_SRC, KIFMM__PR)[r];
        m->nt_own += (size_t)KIFMM__PL(m, KIFMM__P_TGT, KIFMM__PR)[r];
    }
    /* MPI's counts and displacements are int: what a rank receives must fit too */
    if (!kifmm__mpi_all_ok(m, m->ns_own <= KIFMM__MPI_MAX_ITEMS && m->nt_own <= KIFMM__MPI_MAX_ITEMS)) {
        kifmm__log(&m->cfg_log, KIFMM_ERR_INVALID_ARGUMENT, "kifmm_mpi_create: a rank's leaves would hold more than %d "
                   "sources or targets (here %zu and %zu): use more ranks", KIFMM__MPI_MAX_ITEMS, m->ns_own, m->nt_own);
        m->ns_own = m->nt_own = 0;
        return KIFMM_ERR_INVALID_ARGUMENT;
    }
    for (i = 0; i < 2; i++) {
        kifmm__mpi_displs(P, KIFMM__PL(m, i, KIFMM__PS), KIFMM__PL(m, i, KIFMM__PSD));
        kifmm__mpi_displs(P, KIFMM__PL(m, i, KIFMM__PR), KIFMM__PL(m, i, KIFMM__PRD));
    }
    sb = (double *)kifmm__alloc(&m->al, 3 * (ns + nt) * sizeof *sb + 8);
    *sown = (double *)kifmm__alloc(&m->al, 3 * m->ns_own * sizeof **sown + 8);
    *town = (double *)kifmm__alloc(&m->al, 3 * m->nt_own * sizeof **town + 8);
    m->s_order = (size_t *)kifmm__alloc(&m->al, ns * sizeof *m->s_order);
    m->t_order = (size_t *)kifmm__alloc(&m->al, nt * sizeof *m->t_order);
    if (!kifmm__mpi_all_ok(m, sb && *sown && *town && (m->s_order || !ns) && (m->t_order || !nt))) {
        kifmm__free(&m->al, sb, 3 * (ns + nt) * sizeof *sb + 8);
        return KIFMM_ERR_OUT_OF_MEMORY;
    }
    if (ns) memcpy(m->s_order, t1->src_perm, ns * sizeof *m->s_order);
    if (nt) memcpy(m->t_order, t1->tgt_perm, nt * sizeof *m->t_order);
    tb = sb + 3 * ns;
    kifmm__mpi_rows(t1->src, ns, 0, ns, sb);
    kifmm__mpi_rows(t1->tgt, nt, 0, nt, tb);
    kifmm__mpi_move(m, KIFMM__P_SRC, 0, sb, *sown, 3, NULL, NULL, &m->bytes_create);
    kifmm__mpi_move(m, KIFMM__P_TGT, 0, tb, *town, 3, NULL, NULL, &m->bytes_create);
    kifmm__free(&m->al, sb, 3 * (ns + nt) * sizeof *sb + 8);
    return KIFMM_OK;
}

/* surface points of an order's check and equivalent surfaces: p^3 - (p - 2)^3 */
static int kifmm__mpi_surface_n(int p) { return p * p * p - (p - 2) * (p - 2) * (p - 2); }

/* the whole distributed build into the new state m; the object's tree and buffers change only
   when every rank succeeded. Returns the agreed status. */
static kifmm_status kifmm__mpi_build(kifmm *f, kifmm__mpi *m, const double *s, size_t ns, const double *tg, size_t nt) {
    const kifmm_config *c = &f->cfg;
    kifmm_tree t1, t2a, t2;
    kifmm__u64vec split[KIFMM_MAX_DEPTH + 1];
    kifmm__tree_opt o;
    kifmm__mpi_copy cc;
    double lo[3], hi[3], cube[4], dc[3], dh, *sown = NULL, *town = NULL, *uni = NULL, *gb = NULL, t0 = kifmm__now();
    unsigned char *stored = NULL;
    int *span = NULL;
    size_t nbs = 0;
    unsigned long long ntot = ns + nt;
    int deepest = 0, flags = KIFMM_TREE_PRUNE | KIFMM_TREE_RESOLUTION, *llo = NULL, l, n = kifmm__mpi_surface_n(c->order);
    size_t j, nu = 0;
    kifmm_status st;
    memset(&t1, 0, sizeof t1); memset(&t2a, 0, sizeof t2a); memset(&t2, 0, sizeof t2);
    memset(split, 0, sizeof split);
    m->ns_in = ns; m->nt_in = nt;
    st = kifmm__validate_points(c, s, ns, tg, nt);
    if (st == KIFMM_OK && (ns > KIFMM__MPI_MAX_ITEMS || nt > KIFMM__MPI_MAX_ITEMS)) {   /* MPI counts are int */
        kifmm__log(c, KIFMM_ERR_INVALID_ARGUMENT, "kifmm_mpi_create: %zu sources and %zu targets on this rank: at most "
                   "%d each", ns, nt, KIFMM__MPI_MAX_ITEMS);
        st = KIFMM_ERR_INVALID_ARGUMENT;
    }
    st = kifmm__mpi_agree(m->comm, c, st, "checking the points");
    if (st != KIFMM_OK) return st;
    /* the root cube over all ranks */
    kifmm__root_cube(s, ns, tg, nt, dc, &dh, lo, hi);
    MPI_Allreduce(MPI_IN_PLACE, lo, 3, MPI_DOUBLE, MPI_MIN, m->comm);
    MPI_Allreduce(MPI_IN_PLACE, hi, 3, MPI_DOUBLE, MPI_MAX, m->comm);
    MPI_Allreduce(MPI_IN_PLACE, &ntot, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, m->comm);
    if (c->box[3] > 0) memcpy(cube, c->box, sizeof cube);
    else kifmm__cube_of_bounds(lo, hi, (size_t)ntot, cube, &cube[3]);
    /* 1. the structure, refined with the counts over all ranks */
    memset(&o, 0, sizeof o);
    o.decide = kifmm__mpi_decide; o.agree = kifmm__mpi_all_ok; o.counts = kifmm__mpi_counts; o.user = m;
    o.keep = split; o.keep_deepest = &deepest;
    st = kifmm__tree_build_opt(&t1, &c->allocator, s, ns, tg, nt, c->leaf_size, c->max_depth, flags, cube, NULL, &o);
    st = kifmm__mpi_agree(m->comm, c, st, "building the tree");
    /* 2. the leaves' owners; the points move there */
    if (st == KIFMM_OK) {
        llo = (int *)kifmm__alloc(&m->al, ((size_t)m->size + 1) * sizeof *llo);
        st = kifmm__mpi_agree(m->comm, c, llo && kifmm__mpi_partition(m, &t1, n, llo) ? KIFMM_OK : KIFMM_ERR_OUT_OF_MEMORY,
                              "partitioning the leaves");
    }
    if (st == KIFMM_OK) st = kifmm__mpi_move_points(m, &t1, llo, &sown, &town);
    /* 3. the tree of the own points (same structure), and the locally essential tree's plans */
    if (st == KIFMM_OK) {
        memset(&o, 0, sizeof o);
        cc.gsrc = t1.gsrc; cc.gtgt = t1.gtgt;
        o.counts = kifmm__mpi_copy_counts; o.user = &cc; o.given = split; o.given_deepest = deepest;
        st = kifmm__tree_build_opt(&t2a, &c->allocator, sown, m->ns_own, town, m->nt_own, c->leaf_size, c->max_depth,
                                   flags, cube, NULL, &o);
        st = kifmm__mpi_agree(m->comm, c, st, "building the tree of the own points");
    }
    if (st == KIFMM_OK) {
        m->leaf_lo = llo[m->rank];
        m->leaf_hi = llo[m->rank + 1];
        st = kifmm__mpi_let(m, &t2a, n, llo);
        st = kifmm__mpi_agree(m->comm, c, st, "planning the exchange");
    }
    /* 4. the ghost sources' coordinates, once; the tree of own + ghost sources */
    if (st == KIFMM_OK) {
        nu = m->ns_own + m->ng;
        uni = (double *)kifmm__alloc(&m->al, 3 * nu * sizeof *uni + 8);
        gb = (double *)kifmm__alloc(&m->al, 3 * m->ng_send * sizeof *gb + 8);
        st = kifmm__mpi_agree(m->comm, c, uni && gb ? KIFMM_OK : KIFMM_ERR_OUT_OF_MEMORY, "the ghost sources");
    }
    if (st == KIFMM_OK) {
        memcpy(uni, sown, 3 * m->ns_own * sizeof *uni);
        for (j = 0; j < m->ng_send; j++) memcpy(gb + 3 * j, sown + 3 * m->g_send[j], 3 * sizeof *gb);
        kifmm__mpi_move(m, KIFMM__P_GHOST, 0, gb, uni + 3 * m->ns_own, 3, NULL, NULL, &m->bytes_create);
        memset(&o, 0, sizeof o);
        cc.gsrc = t2a.gsrc; cc.gtgt = t2a.gtgt;
        o.counts = kifmm__mpi_copy_counts; o.user = &cc; o.given = split; o.given_deepest = deepest;
        st = kifmm__tree_build_opt(&t2, &c->allocator, uni, nu, town, m->nt_own, c->leaf_size, c->max_depth, flags, cube,
                                   NULL, &o);
        st = kifmm__mpi_agree(m->comm, c, st, "building the locally essential tree");
    }
    if (st == KIFMM_OK) {
        stored = (unsigned char *)kifmm__alloc(&m->al, (size_t)t2.nboxes + 1);
        st = kifmm__mpi_agree(m->comm, c, stored && kifmm__mpi_leaf_spans(m, &t2, &span) ? KIFMM_OK : KIFMM_ERR_OUT_OF_MEMORY,
                              "the box ranges");
        if (st == KIFMM_OK) kifmm__mpi_ranges(m, &t2, span, stored);
        nbs = (size_t)t2.nboxes;
    }
    kifmm__tree_free(&t1);
    kifmm__tree_free(&t2a);
    for (l = 0; l <= KIFMM_MAX_DEPTH; l++) kifmm__u64vec_free(&split[l], &c->allocator);
    kifmm__free(&m->al, llo, ((size_t)m->size + 1) * sizeof *llo);
    kifmm__free(&m->al, sown, 3 * m->ns_own * sizeof *sown + 8);
    kifmm__free(&m->al, town, 3 * m->nt_own * sizeof *town + 8);
    kifmm__free(&m->al, uni, 3 * nu * sizeof *uni + 8);
    kifmm__free(&m->al, gb, 3 * m->ng_send * sizeof *gb + 8);
    if (st == KIFMM_OK) {   /* 5. operators and buffers, committed only when every rank has them */
        m->other_failed = 0;
        st = kifmm__build_on_tree(f, &t2, kifmm__now() - t0, stored, kifmm__mpi_commit_ok, m);
        st = kifmm__mpi_agree(m->comm, c, m->other_failed ? KIFMM_OK : st, "precomputing the operators");
    }
    kifmm__tree_free(&t2);                  /* (empty when the object took it) */
    kifmm__free(&m->al, stored, nbs + 1);
    kifmm__free(&m->al, span, 2 * nbs * sizeof *span);
    if (st != KIFMM_OK) return st;
    {   /* the upward pass starts at the own leaves only, and works on the boxes over them: every
           other multipole is zero (a part this rank does not have) until the exchange writes it */
        kifmm__eval *e = &f->eval;
        const kifmm_tree *t = &f->tree;
        int i, k = 0;
        for (i = 0; i < e->nleaf_src; i++) {
            int b = e->leaf_src[i];
            if (t->src_perm[t->src_begin[b]] < m->ns_own) e->leaf_src[k++] = b;
        }
        memset(e->equiv, 0, (size_t)e->ndmax * e->nslot * (size_t)e->ne * sizeof(double));
        e->nleaf_src = k;
        e->has_range = 1;
        memcpy(e->range, m->range, sizeof e->range);
    }
    return KIFMM_OK;
}

/* ---- evaluating ---------------------------------------------------------------------------- */
/* between the passes: the ghost charges (posted before the upward pass) into the sorted planes,
   then every wanted box's multipole as the sum of the parts of the ranks holding its sources */
static void kifmm__mpi_mid(kifmm *f) {
    kifmm__mpi *m = (kifmm__mpi *)f->dist_state;
    kifmm__eval *e = &f->eval;
    size_t ns = e->nslot, ne = (size_t)e->ne, nd = (size_t)e->call.nd, i, d, j;
    if (m->nreq) {
        MPI_Waitall(m->nreq, m->req, MPI_STATUSES_IGNORE);
        for (i = 0; i < (size_t)m->nreq; i++) MPI_Type_free(&m->rty[i]);
        m->nreq = 0;
        kifmm__pack(f, m->udesc, m->ns_own, (size_t)-1);
    }
    for (i = 0; i < m->nm_send; i++)
        for (d = 0; d < nd; d++)
            memcpy(m->mbuf_s + (i * nd + d) * ne, e->equiv + (d * ns + kifmm__slot(e, m->m_send[i])) * ne, ne * sizeof(double));
    kifmm__mpi_move(m, KIFMM__P_MULT, 0, m->mbuf_s, m->mbuf_r, (int)(nd * ne), NULL, NULL, &m->bytes_let);
    for (i = 0; i < m->nneed; i++)
        for (d = 0; d < nd; d++) memset(e->equiv + (d * ns + kifmm__slot(e, m->need[i])) * ne, 0, ne * sizeof(double));
    for (i = 0; i < m->nm_recv; i++)
        for (d = 0; d < nd; d++) {
            double *q = e->equiv + (d * ns + kifmm__slot(e, m->m_recv[i])) * ne;
            const double *r = m->mbuf_r + (i * nd + d) * ne;
            for (j = 0; j < ne; j++) q[j] += r[j];
        }
}

/* what every rank passes, agreed: nd, and which inputs and outputs there are anywhere */
static kifmm_status kifmm__mpi_shape(kifmm__mpi *m, const kifmm_config *c, const kifmm_eval_desc *d, int fl[9]) {
    int nd = d->nd ? d->nd : 1, has = m->ns_in > 0;
    fl[0] = nd; fl[1] = -nd;
    fl[2] = has && d->charges; fl[3] = has && !d->charges;
    fl[4] = has && d->dipoles; fl[5] = has && !d->dipoles;
    fl[6] = d->potentials != NULL; fl[7] = d->gradients != NULL; fl[8] = d->hessians != NULL;
    MPI_Allreduce(MPI_IN_PLACE, fl, 9, MPI_INT, MPI_MAX, m->comm);
    if (fl[0] != -fl[1] || (fl[2] && fl[3]) || (fl[4] && fl[5])) {
        kifmm__log(c, KIFMM_ERR_INVALID_ARGUMENT, "kifmm_evaluate_ex: the ranks disagree on %s",
                   fl[0] != -fl[1] ? "desc->nd" : fl[2] && fl[3] ? "whether desc->charges is given"
                                                               : "whether desc->dipoles is given");
        return KIFMM_ERR_INVALID_ARGUMENT;
    }
    return KIFMM_OK;
}

typedef struct kifmm__mpi_bufs {
    double *q, *dip, *pot, *grad, *hess, *s, *r, *gs, *ms, *mr;
    size_t nq, ndip, npot, ngrad, nhess, ns, nr, ngs, nms, nmr;
} kifmm__mpi_bufs;

static int kifmm__mpi_bufs_alloc(kifmm__mpi *m, kifmm__mpi_bufs *b) {
    return (b->q = (double *)kifmm__alloc(&m->al, (b->nq + 1) * sizeof(double))) &&
           (b->dip = (double *)kifmm__alloc(&m->al, (b->ndip + 1) * sizeof(double))) &&
           (b->pot = (double *)kifmm__alloc(&m->al, (b->npot + 1) * sizeof(double))) &&
           (b->grad = (double *)kifmm__alloc(&m->al, (b->ngrad + 1) * sizeof(double))) &&
           (b->hess = (double *)kifmm__alloc(&m->al, (b->nhess + 1) * sizeof(double))) &&
           (b->s = (double *)kifmm__alloc(&m->al, (b->ns + 1) * sizeof(double))) &&
           (b->r = (double *)kifmm__alloc(&m->al, (b->nr + 1) * sizeof(double))) &&
           (b->gs = (double *)kifmm__alloc(&m->al, (b->ngs + 1) * sizeof(double))) &&
           (b->ms = (double *)kifmm__alloc(&m->al, (b->nms + 1) * sizeof(double))) &&
           (b->mr = (double *)kifmm__alloc(&m->al, (b->nmr + 1) * sizeof(double)));
}

static void kifmm__mpi_bufs_free(kifmm__mpi *m, kifmm__mpi_bufs *b) {
    kifmm__free(&m->al, b->q, (b->nq + 1) * sizeof(double));
    kifmm__free(&m->al, b->dip, (b->ndip + 1) * sizeof(double));
    kifmm__free(&m->al, b->pot, (b->npot + 1) * sizeof(double));
    kifmm__free(&m->al, b->grad, (b->ngrad + 1) * sizeof(double));
    kifmm__free(&m->al, b->hess, (b->nhess + 1) * sizeof(double));
    kifmm__free(&m->al, b->s, (b->ns + 1) * sizeof(double));
    kifmm__free(&m->al, b->r, (b->nr + 1) * sizeof(double));
    kifmm__free(&m->al, b->gs, (b->ngs + 1) * sizeof(double));
    kifmm__free(&m->al, b->ms, (b->nms + 1) * sizeof(double));
    kifmm__free(&m->al, b->mr, (b->nmr + 1) * sizeof(double));
}

/* the caller's rows of width w, in sending order */
static void kifmm__mpi_gather(const double *in, const size_t *order, size_t n, size_t w, double *out) {
    size_t i;
    for (i = 0; i < n; i++) memcpy(out + i * w, in + order[i] * w, w * sizeof *out);
}

static kifmm_status kifmm__mpi_evaluate(kifmm *f, const kifmm_eval_desc *desc) {
    kifmm__mpi *m = (kifmm__mpi *)f->dist_state;
    const kifmm_config *c = &f->cfg;
    kifmm__eval *e = &f->eval;
    kifmm__mpi_bufs b;
    kifmm_eval_desc u;
    kifmm_status st;
    int fl[9];
    size_t nd, sq, wd, wp, wg, wh, wo, nu = m->ns_own + m->ng, i, bw;
    double t0 = kifmm__now();
    st = kifmm__check_desc(c, &f->kern, desc, m->ns_in, m->nt_in, "kifmm_evaluate_ex");
    if ((st = kifmm__mpi_agree(m->comm, c, st, "kifmm_evaluate_ex")) != KIFMM_OK) return st;
    if ((st = kifmm__mpi_shape(m, c, desc, fl)) != KIFMM_OK) return st;
    nd = (size_t)fl[0];
    sq = (size_t)f->kern.sdim * nd;
    wd = 3 * nd;
    wp = fl[6] ? (size_t)f->kern.tdim * nd : 0;
    wg = fl[7] ? 3 * (size_t)f->kern.tdim * nd : 0;
    wh = fl[8] ? 6 * nd : 0;
    wo = wp + wg + wh;
    bw = nd * (e->harm ? 4 : 1) * (size_t)e->ne;
    memset(&b, 0, sizeof b);
    b.nq = fl[2] ? nu * sq : 0;
    b.ndip = fl[4] ? nu * wd : 0;
    b.npot = m->nt_own * wp; b.ngrad = m->nt_own * wg; b.nhess = m->nt_own * wh;
    b.ns = m->ns_in * (sq + wd);
    if (m->nt_own * wo > b.ns) b.ns = m->nt_own * wo;
    b.nr = m->nt_in * wo;
    b.ngs = m->ng_send * (sq + wd);
    b.nms = m->nm_send * bw; b.nmr = m->nm_recv * bw;
    st = kifmm__mpi_bufs_alloc(m, &b) ? KIFMM_OK : KIFMM_ERR_OUT_OF_MEMORY;
    if (st != KIFMM_OK) kifmm__log(c, st, "kifmm_evaluate_ex: out of memory for the exchange buffers");
    if ((st = kifmm__mpi_agree(m->comm, c, st, "kifmm_evaluate_ex")) != KIFMM_OK) { kifmm__mpi_bufs_free(m, &b); return st; }
    m->bytes_eval = m->bytes_let = 0;
    /* the charges (and dipoles) to the owners; the ghosts' on to who reads them, non-blocking */
    m->nreq = 0;
    if (fl[2]) {
        kifmm__mpi_gather(desc->charges, m->s_order, m->ns_in, sq, b.s);
        kifmm__mpi_move(m, KIFMM__P_SRC, 0, b.s, b.q, (int)sq, NULL, NULL, &m->bytes_eval);
        kifmm__mpi_gather(b.q, m->g_send, m->ng_send, sq, b.gs);
        kifmm__mpi_move(m, KIFMM__P_GHOST, 0, b.gs, b.q + m->ns_own * sq, (int)sq, &m->req[m->nreq], &m->rty[m->nreq],
                        &m->bytes_let);
        m->nreq++;
    }
    if (fl[4]) {
        kifmm__mpi_gather(desc->dipoles, m->s_order, m->ns_in, wd, b.s + m->ns_in * sq);
        kifmm__mpi_move(m, KIFMM__P_SRC, 0, b.s + m->ns_in * sq, b.dip, (int)wd, NULL, NULL, &m->bytes_eval);
        kifmm__mpi_gather(b.dip, m->g_send, m->ng_send, wd, b.gs + m->ng_send * sq);
        kifmm__mpi_move(m, KIFMM__P_GHOST, 0, b.gs + m->ng_send * sq, b.dip + m->ns_own * wd, (int)wd, &m->req[m->nreq],
                        &m->rty[m->nreq], &m->bytes_let);
        m->nreq++;
    }
    memset(&u, 0, sizeof u);
    u.nd = (int)nd;
    u.charges = fl[2] ? b.q : NULL;
    u.dipoles = fl[4] ? b.dip : NULL;
    u.potentials = fl[6] ? b.pot : NULL;
    u.gradients = fl[7] ? b.grad : NULL;
    u.hessians = fl[8] ? b.hess : NULL;
    m->udesc = &u;
    m->mbuf_s = b.ms; m->mbuf_r = b.mr;
    if (!fl[2] && !fl[4]) {                 /* no sources anywhere: nothing to add */
        if (u.potentials) memset(b.pot, 0, b.npot * sizeof(double));
        if (u.gradients) memset(b.grad, 0, b.ngrad * sizeof(double));
        if (u.hessians) memset(b.hess, 0, b.nhess * sizeof(double));
        st = KIFMM_OK;
    } else if (!fl[6] && !fl[7] && !fl[8]) {
        st = KIFMM_OK;                      /* no targets anywhere */
        kifmm__mpi_mid(f);                  /* (the posted exchanges still complete) */
    } else {
        /* the sums the last exchange wrote are not this rank's parts: zero again, or the boxes the
           upward pass does not rewrite (ghost leaves, boxes beside the own ones) would count twice */
        for (i = 0; i < m->nneed; i++) {
            size_t d;
            for (d = 0; d < (size_t)e->ndmax; d++)
                memset(e->equiv + (d * e->nslot + kifmm__slot(e, m->need[i])) * (size_t)e->ne, 0,
                       (size_t)e->ne * sizeof(double));
        }
        st = kifmm__evaluate(f, &u, m->ns_own);
    }
    m->udesc = NULL;
    st = kifmm__mpi_agree(m->comm, c, st, "kifmm_evaluate_ex");
    if (st == KIFMM_OK) {                   /* the results back to the calling ranks */
        for (i = 0; i < m->nt_own; i++) {
            double *row = b.s + i * wo;
            if (wp) memcpy(row, b.pot + i * wp, wp * sizeof *row);
            if (wg) memcpy(row + wp, b.grad + i * wg, wg * sizeof *row);
            if (wh) memcpy(row + wp + wg, b.hess + i * wh, wh * sizeof *row);
        }
        if (wo) kifmm__mpi_move(m, KIFMM__P_TGT, 1, b.s, b.r, (int)wo, NULL, NULL, &m->bytes_eval);
        for (i = 0; i < m->nt_in; i++) {
            const double *row = b.r + i * wo;
            size_t j = m->t_order[i];
            if (desc->potentials) memcpy(desc->potentials + j * wp, row, wp * sizeof *row);
            if (desc->gradients) memcpy(desc->gradients + j * wg, row + wp, wg * sizeof *row);
            if (desc->hessians) memcpy(desc->hessians + j * wh, row + wp + wg, wh * sizeof *row);
        }
    }
    m->bytes_eval += m->bytes_let;
    kifmm__mpi_bufs_free(m, &b);
    f->stats.seconds_evaluate = kifmm__now() - t0;
    return st;
}

/* ---- the object ------------------------------------------------------------------------------ */
static kifmm__mpi *kifmm__mpi_new(const kifmm_config *c, MPI_Comm comm) {
    kifmm__mpi *m = (kifmm__mpi *)kifmm__alloc(&c->allocator, sizeof *m);
    int size;
    MPI_Comm_size(comm, &size);
    if (!m) return NULL;
    memset(m, 0, sizeof *m);
    m->al = c->allocator;
    m->cfg_log = *c;
    m->comm = MPI_COMM_NULL;
    m->size = size;
    MPI_Comm_rank(comm, &m->rank);
    m->plan = (int *)kifmm__alloc(&m->al, 16 * (size_t)size * sizeof *m->plan);
    if (!m->plan) { kifmm__free(&m->al, m, sizeof *m); return NULL; }
    memset(m->plan, 0, 16 * (size_t)size * sizeof *m->plan);
    return m;
}

static kifmm_status kifmm__mpi_set_points(kifmm *f, const double *s, size_t ns, const double *t, size_t nt) {
    kifmm__mpi *old = (kifmm__mpi *)f->dist_state, *m = kifmm__mpi_new(&f->cfg, old->comm);
    kifmm_status st;
    int th;
    st = kifmm__mpi_agree(old->comm, &f->cfg, m ? KIFMM_OK : KIFMM_ERR_OUT_OF_MEMORY, "kifmm_set_points");
    if (st != KIFMM_OK) { kifmm__mpi_free(m); return st; }
    m->comm = old->comm;
    th = kifmm__threads_begin(f->cfg.threads);
    st = kifmm__mpi_build(f, m, s, ns, t, nt);
    kifmm__threads_end(th);
    if (st != KIFMM_OK) { m->comm = MPI_COMM_NULL; kifmm__mpi_free(m); return st; }
    old->comm = MPI_COMM_NULL;
    kifmm__mpi_free(old);
    f->dist_state = m;
    return KIFMM_OK;
}

static kifmm_status kifmm__mpi_stats(const kifmm *f, kifmm_stats *s) { return kifmm__local_stats(f, s); }

static void kifmm__mpi_destroy(kifmm *f) {
    kifmm__mpi_free((kifmm__mpi *)f->dist_state);
    f->dist_state = NULL;
    f->dist = NULL;
}

static const kifmm__dist_vt kifmm__mpi_vt = {kifmm__mpi_evaluate, kifmm__mpi_set_points, kifmm__mpi_stats,
                                             kifmm__mpi_destroy};

/* what must be the same on every rank, as one number */
static unsigned long long kifmm__mpi_config_hash(const kifmm_config *c) {
    unsigned long long h = 1469598103934665603ULL;
    double d[8];
    long long v[8];
    const unsigned char *p;
    size_t i;
    d[0] = c->m2l_tolerance; d[1] = c->box[0]; d[2] = c->box[1]; d[3] = c->box[2]; d[4] = c->box[3];
    d[5] = c->kernel.param; d[6] = c->kernel.homogeneity; d[7] = c->kernel.kind == KIFMM_KERNEL_USER;
    v[0] = c->order; v[1] = c->leaf_size; v[2] = c->max_depth; v[3] = c->m2l_rank; v[4] = (long long)c->seed;
    v[5] = c->nd; v[6] = c->kernel.kind; v[7] = c->kernel.source_dim * 16 + c->kernel.target_dim;
    if (c->kernel.kind != KIFMM_KERNEL_USER) { d[6] = 0; v[7] = 0; }
    for (p = (const unsigned char *)d, i = 0; i < sizeof d; i++) h = (h ^ p[i]) * 1099511628211ULL;
    for (p = (const unsigned char *)v, i = 0; i < sizeof v; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

KIFMM_DEF kifmm_status kifmm_mpi_create(kifmm **out, const kifmm_config *config, MPI_Comm comm,
                                         const double *sources, size_t nsources_local,
                                         const double *targets, size_t ntargets_local) {
    kifmm_config c;
    kifmm__kernel k;
    kifmm *f = NULL;
    kifmm__mpi *m = NULL;
    kifmm_status st;
    unsigned long long h[2];
    MPI_Comm dup;
    int th;
    if (out) *out = NULL;
    st = out ? kifmm__resolve(config, &c, &k) : KIFMM_ERR_INVALID_ARGUMENT;
    if (!out) kifmm__log(config, st, "kifmm_mpi_create: out (the kifmm ** to fill) is NULL");
    if (st == KIFMM_OK) st = kifmm__check_homogeneity(&c, &k);
    if ((st = kifmm__mpi_agree(comm, st == KIFMM_OK ? &c : config, st, "kifmm_mpi_create")) != KIFMM_OK) return st;
    h[0] = kifmm__mpi_config_hash(&c);
    h[1] = ~h[0];
    MPI_Allreduce(MPI_IN_PLACE, h, 2, MPI_UNSIGNED_LONG_LONG, MPI_MIN, comm);
    if (h[0] != ~h[1]) {
        kifmm__log(&c, KIFMM_ERR_INVALID_ARGUMENT, "kifmm_mpi_create: the ranks' configs differ (order, leaf_size, "
                   "max_depth, m2l_tolerance, m2l_rank, seed, box, nd or kernel, after defaults are filled in)");
        return KIFMM_ERR_INVALID_ARGUMENT;
    }
    MPI_Comm_dup(comm, &dup);
    f = kifmm__new(&c, &k);
    m = f ? kifmm__mpi_new(&c, dup) : NULL;
    if ((st = kifmm__mpi_agree(dup, &c, m ? KIFMM_OK : KIFMM_ERR_OUT_OF_MEMORY, "kifmm_mpi_create")) != KIFMM_OK) {
        kifmm__mpi_free(m);
        kifmm_destroy(f);
        MPI_Comm_free(&dup);
        return st;
    }
    m->comm = dup;
    th = kifmm__threads_begin(c.threads);
    st = kifmm__mpi_build(f, m, sources, nsources_local, targets, ntargets_local);
    kifmm__threads_end(th);
    if (st != KIFMM_OK) {
        kifmm__mpi_free(m);
        kifmm_destroy(f);
        return st;
    }
    f->dist = &kifmm__mpi_vt;
    f->dist_state = m;
    f->mid = kifmm__mpi_mid;
    *out = f;
    return KIFMM_OK;
}

KIFMM_DEF kifmm_status kifmm_mpi_get_info(const kifmm *f, kifmm_mpi_info *info) {
    const kifmm__mpi *m;
    if (!f || !info || f->dist != &kifmm__mpi_vt) return KIFMM_ERR_INVALID_ARGUMENT;
    m = (const kifmm__mpi *)f->dist_state;
    memset(info, 0, sizeof *info);
    info->rank = m->rank;
    info->size = m->size;
    info->own_sources = m->ns_own;
    info->own_targets = m->nt_own;
    info->ghost_sources = m->ng;
    info->let_boxes = m->nm_recv;
    info->bytes_sent_create = m->bytes_create;
    info->bytes_sent_evaluate = m->bytes_eval;
    info->bytes_sent_let = m->bytes_let;
    info->work_estimate = m->work;
    return KIFMM_OK;
}

#endif /* KIFMM_MPI_IMPLEMENTATION */
