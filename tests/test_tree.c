/* Octree tests: Morton keys, tree invariants, lists against brute force, the counting test,
   allocation failure. Everything is checked against definitions, not against the tree itself. */
#define KIFMM_TREE_IMPLEMENTATION
#include "kifmm_tree.h"
#include "testutil.h"

/* ---- keys ---- */
static int ref_preorder_less(uint64_t a, uint64_t b) {
    /* a before b in depth-first pre-order: an ancestor first, else compare the children of the
       deepest common ancestor through which the two paths go */
    uint32_t pa[3], pb[3];
    int la, lb, l;
    if (a == b) return 0;
    if (kifmm_key_is_ancestor(a, b)) return 1;
    if (kifmm_key_is_ancestor(b, a)) return 0;
    kifmm_key_decode(a, pa, &la);
    kifmm_key_decode(b, pb, &lb);
    for (l = 1; l <= (la < lb ? la : lb); l++) {
        int s = KIFMM_MAX_DEPTH - l, oa, ob;
        oa = (int)((pa[0] >> s & 1) << 2 | (pa[1] >> s & 1) << 1 | (pa[2] >> s & 1));
        ob = (int)((pb[0] >> s & 1) << 2 | (pb[1] >> s & 1) << 1 | (pb[2] >> s & 1));
        if (oa != ob) return oa < ob;
    }
    return 0;
}

static void test_keys(void) {
    int i, l;
    tu_seed(1);
    for (i = 0; i < 20000; i++) {
        uint32_t a[3], b[3], w;
        uint64_t k, p, c;
        int lev, o, nn;
        uint64_t nb[26];
        l = i % (KIFMM_MAX_DEPTH + 1);
        w = (uint32_t)1 << (KIFMM_MAX_DEPTH - l);
        for (o = 0; o < 3; o++) a[o] = (uint32_t)(tu_rand() * (1u << KIFMM_MAX_DEPTH)) / w * w;
        k = kifmm_key_encode(a, l);
        kifmm_key_decode(k, b, &lev);
        CHECK(lev == l && a[0] == b[0] && a[1] == b[1] && a[2] == b[2], "round trip level %d", l);
        CHECK(kifmm_key_level(k) == l, "level");
        if (l > 0) {
            p = kifmm_key_parent(k);
            CHECK(kifmm_key_is_ancestor(p, k) && !kifmm_key_is_ancestor(k, p), "parent is ancestor");
            CHECK(kifmm_key_level(p) == l - 1, "parent level");
            o = (int)((a[0] >> (KIFMM_MAX_DEPTH - l) & 1) << 2 | (a[1] >> (KIFMM_MAX_DEPTH - l) & 1) << 1 |
                      (a[2] >> (KIFMM_MAX_DEPTH - l) & 1));
            CHECK(kifmm_key_child(p, o) == k, "child of parent");
            CHECK(ref_preorder_less(p, k) && p < k, "parent sorts first");
        }
        if (l < KIFMM_MAX_DEPTH)
            for (o = 0; o < 8; o++) {
                c = kifmm_key_child(k, o);
                CHECK(kifmm_key_parent(c) == k, "parent of child");
            }
        nn = kifmm_key_neighbours(k, nb);
        {   /* expected count: product over axes of the in-root offsets */
            int d, expect = 1;
            for (d = 0; d < 3; d++) {
                int cnt = 1, c0 = (int)(a[d] / w);
                if (c0 > 0) cnt++;
                if (c0 < (1 << l) - 1) cnt++;
                expect *= cnt;
            }
            CHECK(nn == expect - 1, "neighbour count %d vs %d at level %d", nn, expect - 1, l);
        }
        for (o = 0; o < nn; o++) {
            uint32_t q[3];
            int d, ok = 1;
            kifmm_key_decode(nb[o], q, &lev);
            for (d = 0; d < 3; d++) {
                int64_t diff = (int64_t)q[d] - a[d];
                if (diff != 0 && diff != w && diff != -(int64_t)w) ok = 0;
            }
            CHECK(ok && lev == l && nb[o] != k, "neighbour geometry");
        }
    }
    /* integer order equals pre-order */
    for (i = 0; i < 20000; i++) {
        uint32_t a[3], b[3];
        int la = (int)(tu_rand() * 6), lb = (int)(tu_rand() * 6), d;
        uint64_t ka, kb;
        for (d = 0; d < 3; d++) {
            a[d] = (uint32_t)(tu_rand() * 4) << (KIFMM_MAX_DEPTH - 2);
            b[d] = (uint32_t)(tu_rand() * 4) << (KIFMM_MAX_DEPTH - 2);
        }
        ka = kifmm_key_encode(a, la);
        kb = kifmm_key_encode(b, lb);
        CHECK((ka < kb) == ref_preorder_less(ka, kb), "pre-order %llx %llx", (unsigned long long)ka,
              (unsigned long long)kb);
    }
    /* transfer vectors: a bijection onto 0..315 */
    {
        int seen[KIFMM_NUM_TRANSFER] = {0}, dx, dy, dz, count = 0;
        for (dx = -3; dx <= 3; dx++)
            for (dy = -3; dy <= 3; dy++)
                for (dz = -3; dz <= 3; dz++) {
                    int t = kifmm_transfer_index(dx, dy, dz), adj = abs(dx) <= 1 && abs(dy) <= 1 && abs(dz) <= 1;
                    if (adj) { CHECK(t == -1, "adjacent offset has no index"); continue; }
                    CHECK(t >= 0 && t < KIFMM_NUM_TRANSFER && !seen[t], "index %d", t);
                    if (t >= 0 && t < KIFMM_NUM_TRANSFER) {
                        int d[3];
                        seen[t] = 1;
                        count++;
                        kifmm_transfer_vector(t, d);
                        CHECK(d[0] == dx && d[1] == dy && d[2] == dz, "inverse");
                        CHECK(kifmm_transfer_index(-dx, -dy, -dz) == KIFMM_NUM_TRANSFER - 1 - t, "opposite");
                    }
                }
        CHECK(count == KIFMM_NUM_TRANSFER, "count %d", count);
    }
}

/* ---- tree invariants and lists ---- */
static int box_adjacent(const kifmm_tree *t, int a, int b) {
    uint32_t pa[3], pb[3];
    int la, lb, d, touch = 0;
    int64_t wa, wb;
    kifmm_key_decode(t->key[a], pa, &la);
    kifmm_key_decode(t->key[b], pb, &lb);
    wa = (int64_t)1 << (KIFMM_MAX_DEPTH - la);
    wb = (int64_t)1 << (KIFMM_MAX_DEPTH - lb);
    for (d = 0; d < 3; d++) {
        int64_t a0 = pa[d], b0 = pb[d];
        if (a0 > b0 + wb || b0 > a0 + wa) return 0;
        if (a0 == b0 + wb || b0 == a0 + wa) touch = 1;
    }
    return touch;
}

static int lev(const kifmm_tree *t, int b) { return kifmm_key_level(t->key[b]); }
static int is_leaf(const kifmm_tree *t, int b) { return t->child[b] < 0; }

static int in_list(const size_t *off, const int *idx, int b, int x) {
    size_t j;
    for (j = off[b]; j < off[b + 1]; j++)
        if (idx[j] == x) return 1;
    return 0;
}

/* compare the list of every box with the definition, O(boxes^2) */
static void check_lists(const kifmm_tree *t) {
    int b, a;
    for (b = 0; b < t->nboxes; b++) {
        int nu = 0, nv = 0, nw = 0, nx = 0;
        for (a = 0; a < t->nboxes; a++) {
            int adj = box_adjacent(t, a, b), la = lev(t, a), lb = lev(t, b);
            int u = is_leaf(t, b) && is_leaf(t, a) && (a == b || adj);
            int v = lb >= 2 && la == lb && !adj && a != b &&
                    (t->parent[a] == t->parent[b] || box_adjacent(t, t->parent[a], t->parent[b]));
            int w = is_leaf(t, b) && la == lb + 1 && !adj && box_adjacent(t, t->parent[a], b);
            int x = lb >= 2 && is_leaf(t, a) && la == lb - 1 && !adj && box_adjacent(t, a, t->parent[b]);
            nu += u; nv += v; nw += w; nx += x;
            CHECK(u == in_list(t->u_off, t->u_idx, b, a), "U of %d has %d: %d", b, a, u);
            CHECK(v == in_list(t->v_off, t->v_idx, b, a), "V of %d has %d: %d", b, a, v);
            CHECK(w == in_list(t->w_off, t->w_idx, b, a), "W of %d has %d: %d", b, a, w);
            CHECK(x == in_list(t->x_off, t->x_idx, b, a), "X of %d has %d: %d", b, a, x);
        }
        CHECK((size_t)nu == t->u_off[b + 1] - t->u_off[b], "U length");
        CHECK((size_t)nv == t->v_off[b + 1] - t->v_off[b], "V length");
        CHECK((size_t)nw == t->w_off[b + 1] - t->w_off[b], "W length");
        CHECK((size_t)nx == t->x_off[b + 1] - t->x_off[b], "X length");
    }
}

static void check_invariants(const kifmm_tree *t, const double *src, const double *tgt) {
    int b, i, l;
    double vol = 0;
    size_t ns = 0, nt = 0, k;
    /* levels: level_begin ranges, key-sorted, children contiguous and consistent */
    for (l = 0; l <= KIFMM_MAX_DEPTH; l++)
        for (b = t->level_begin[l]; b < t->level_begin[l + 1]; b++) {
            CHECK(lev(t, b) == l, "box %d in level range %d", b, l);
            if (b > t->level_begin[l]) CHECK(t->key[b - 1] < t->key[b], "sorted within level");
        }
    CHECK(t->level_begin[KIFMM_MAX_DEPTH + 1] == t->nboxes, "level ranges cover all boxes");
    for (b = 0; b < t->nboxes; b++) {
        if (t->child[b] >= 0) {
            int o;
            for (o = 0; o < 8; o++) {
                int c = t->child[b] + o;
                CHECK(t->parent[c] == b && t->key[c] == kifmm_key_child(t->key[b], o), "child %d of %d", o, b);
            }
            CHECK(t->src_begin[b] == t->src_begin[t->child[b]] && t->src_end[b] == t->src_end[t->child[b] + 7],
                  "children's sources tile the parent");
        } else {
            /* leaf: size bound, points inside the box */
            CHECK(lev(t, b) == t->max_depth || (t->src_end[b] - t->src_begin[b] <= (size_t)t->leaf_size &&
                                                 t->tgt_end[b] - t->tgt_begin[b] <= (size_t)t->leaf_size),
                  "leaf %d too full", b);
            vol += 1.0 / (double)((uint64_t)1 << (3 * lev(t, b)));
            ns += t->src_end[b] - t->src_begin[b];
            nt += t->tgt_end[b] - t->tgt_begin[b];
            {
                double c[3], hw;
                size_t j;
                int d;
                kifmm_tree_box_center(t, b, c, &hw);
                for (j = t->src_begin[b]; j < t->src_end[b]; j++)
                    for (d = 0; d < 3; d++)
                        CHECK(fabs(t->src[d * t->nsources + j] - c[d]) <= hw * (1 + 1e-12), "source in leaf");
                for (j = t->tgt_begin[b]; j < t->tgt_end[b]; j++)
                    for (d = 0; d < 3; d++)
                        CHECK(fabs(t->tgt[d * t->ntargets + j] - c[d]) <= hw * (1 + 1e-12), "target in leaf");
            }
        }
    }
    CHECK(fabs(vol - 1) < 1e-12, "leaves tile the root: volume %g", vol);
    CHECK(ns == t->nsources && nt == t->ntargets, "every point in exactly one leaf");
    /* leaves in pre-order, no leaf inside another, ranges consecutive */
    for (i = 1; i < t->nleaves; i++) {
        CHECK(t->key[t->leaf[i - 1]] < t->key[t->leaf[i]], "leaves sorted");
        CHECK(!kifmm_key_is_ancestor(t->key[t->leaf[i - 1]], t->key[t->leaf[i]]), "leaves disjoint");
        CHECK(t->src_end[t->leaf[i - 1]] == t->src_begin[t->leaf[i]], "source ranges consecutive");
    }
    /* permutation: sorted coordinates are the caller's */
    for (k = 0; k < t->nsources; k++) {
        size_t j = t->src_perm[k];
        CHECK(t->src[k] == src[3 * j] && t->src[t->nsources + k] == src[3 * j + 1] &&
                  t->src[2 * t->nsources + k] == src[3 * j + 2], "source permutation");
    }
    for (k = 0; k < t->ntargets; k++) {
        size_t j = t->tgt_perm[k];
        CHECK(t->tgt[k] == tgt[3 * j] && t->tgt[2 * t->ntargets + k] == tgt[3 * j + 2], "target permutation");
    }
    /* 2:1 balance (leaves) and list size bounds */
    for (i = 0; i < t->nleaves; i++) {
        size_t j;
        int a = t->leaf[i];
        for (j = t->u_off[a]; j < t->u_off[a + 1]; j++)
            CHECK(abs(lev(t, t->u_idx[j]) - lev(t, a)) <= 1, "2:1 balance");
    }
    CHECK(t->u_max <= KIFMM_MAX_U && t->v_max <= KIFMM_MAX_V && t->w_max <= KIFMM_MAX_W && t->x_max <= KIFMM_MAX_X,
          "list bounds U %d V %d W %d X %d", t->u_max, t->v_max, t->w_max, t->x_max);
}

/* every target leaf sees every source exactly once through what the operators use: U (P2P),
   W (M2P), and for itself and each ancestor the grouped M2L pairs (the V pairs the M2L runs)
   and X (P2L); boxes without sources may be skipped, they add nothing */
static void counting_test(const kifmm_tree *t) {
    int *cnt = (int *)calloc(t->nsources + 1, sizeof *cnt);
    size_t npairs = t->m2l_off[(KIFMM_MAX_DEPTH + 1) * KIFMM_NUM_TRANSFER], *voff, p;
    int *vsrc, i, b;
    /* the M2L pairs regrouped by target box */
    voff = (size_t *)calloc((size_t)t->nboxes + 1, sizeof *voff);
    vsrc = (int *)malloc((npairs + 1) * sizeof *vsrc);
    for (p = 0; p < npairs; p++) voff[t->m2l_tgt[p] + 1]++;
    for (b = 0; b < t->nboxes; b++) voff[b + 1] += voff[b];
    {
        size_t *fill = (size_t *)malloc(((size_t)t->nboxes + 1) * sizeof *fill);
        memcpy(fill, voff, ((size_t)t->nboxes + 1) * sizeof *fill);
        for (p = 0; p < npairs; p++) vsrc[fill[t->m2l_tgt[p]]++] = t->m2l_src[p];
        free(fill);
    }
    for (i = 0; i < t->nleaves; i++) {
        int leaf = t->leaf[i];
        size_t j, k;
        if (t->tgt_end[leaf] == t->tgt_begin[leaf]) continue;       /* nothing to receive */
        memset(cnt, 0, (t->nsources + 1) * sizeof *cnt);
#define ADD_RANGE(box) do { cnt[t->src_begin[box]]++; cnt[t->src_end[box]]--; } while (0)
        for (j = t->u_off[leaf]; j < t->u_off[leaf + 1]; j++) ADD_RANGE(t->u_idx[j]);
        for (j = t->w_off[leaf]; j < t->w_off[leaf + 1]; j++) ADD_RANGE(t->w_idx[j]);
        for (b = leaf; b >= 0; b = t->parent[b]) {
            for (j = voff[b]; j < voff[b + 1]; j++) ADD_RANGE(vsrc[j]);
            for (j = t->x_off[b]; j < t->x_off[b + 1]; j++) ADD_RANGE(t->x_idx[j]);
        }
#undef ADD_RANGE
        {
            int run = 0, bad = 0;
            for (k = 0; k < t->nsources; k++) {
                run += cnt[k];
                if (run != 1) bad++;
            }
            CHECK(bad == 0, "leaf %d: %d sources not seen exactly once", leaf, bad);
        }
    }
    free(cnt);
    free(voff);
    free(vsrc);
}

/* M2L groups: exactly the V pairs with non-empty ends, each under its own transfer vector */
static void check_m2l_groups(const kifmm_tree *t, int *vectors_seen) {
    size_t g, j, expect = 0;
    int b;
    for (b = 0; b < t->nboxes; b++) {
        size_t k;
        if (t->tgt_end[b] == t->tgt_begin[b]) continue;
        for (k = t->v_off[b]; k < t->v_off[b + 1]; k++)
            expect += t->src_end[t->v_idx[k]] > t->src_begin[t->v_idx[k]];
    }
    CHECK(t->m2l_off[(KIFMM_MAX_DEPTH + 1) * KIFMM_NUM_TRANSFER] == expect, "pair count");
    for (g = 0; g < (size_t)(KIFMM_MAX_DEPTH + 1) * KIFMM_NUM_TRANSFER; g++) {
        int l = (int)(g / KIFMM_NUM_TRANSFER), tv = (int)(g % KIFMM_NUM_TRANSFER), d[3];
        kifmm_transfer_vector(tv, d);
        if (t->m2l_off[g + 1] > t->m2l_off[g]) vectors_seen[tv] = 1;
        for (j = t->m2l_off[g]; j < t->m2l_off[g + 1]; j++) {
            int tg = t->m2l_tgt[j], s = t->m2l_src[j], e;
            uint32_t a[3], c[3];
            int64_t w = (int64_t)1 << (KIFMM_MAX_DEPTH - l);
            kifmm_key_decode(t->key[tg], a, NULL);
            kifmm_key_decode(t->key[s], c, NULL);
            CHECK(lev(t, tg) == l && lev(t, s) == l && in_list(t->v_off, t->v_idx, tg, s), "pair in V");
            for (e = 0; e < 3; e++) CHECK(((int64_t)c[e] - a[e]) == d[e] * w, "transfer vector");
            if (j > t->m2l_off[g]) CHECK(t->m2l_tgt[j - 1] != tg, "a target once per vector");
        }
    }
}

static void run_case_box(const char *name, const double *s, size_t ns, const double *tg, size_t nt, int leaf,
                         int maxd, int brute, int *vectors_seen, const double *box) {
    kifmm_tree t;
    kifmm_status st = kifmm_tree_build_ex(&t, NULL, s, ns, tg, nt, leaf, maxd, 0, box, NULL);
    CHECK(st == KIFMM_OK, "%s: build status %d", name, (int)st);
    if (st != KIFMM_OK) return;
    check_invariants(&t, s, tg);
    if (brute) check_lists(&t);
    counting_test(&t);
    check_m2l_groups(&t, vectors_seen);
    printf("%-22s ns %6zu nt %6zu: depth %2d boxes %6d leaves %6d, max U %d V %d W %d X %d\n", name, ns, nt,
           t.depth, t.nboxes, t.nleaves, t.u_max, t.v_max, t.w_max, t.x_max);
    kifmm_tree_free(&t);
}

static void run_case(const char *name, const double *s, size_t ns, const double *tg, size_t nt, int leaf,
                     int maxd, int brute, int *vectors_seen) {
    run_case_box(name, s, ns, tg, nt, leaf, maxd, brute, vectors_seen, NULL);
}

static void test_trees(void) {
    int d, seen[KIFMM_NUM_TRANSFER] = {0}, i, nseen = 0;
    char name[64];
    tu_seed(7);
    for (d = 0; d < TU_NDIST; d++) {
        size_t n = 700;
        double *x = tu_new_points(n, d), *y = tu_new_points(n / 2 + 3, d);
        sprintf(name, "%s same", tu_dist_name[d]);
        run_case(name, x, n, x, n, 8, KIFMM_MAX_DEPTH, 1, seen);
        sprintf(name, "%s separate", tu_dist_name[d]);
        run_case(name, x, n, y, n / 2 + 3, 5, 8, 1, seen);
        free(x);
        free(y);
    }
    {   /* small counts, coincident points, far from the origin */
        double one[3] = {0.3, -2, 5}, two[6] = {0, 0, 0, 1, 1, 1}, far[3 * 40], same[3 * 50];
        for (i = 0; i < 40; i++) {
            far[3 * i] = 1e6 + 1e-2 * tu_rand(); far[3 * i + 1] = -3e5 + 1e-2 * tu_rand();
            far[3 * i + 2] = 7 + 1e-2 * tu_rand();
        }
        for (i = 0; i < 150; i++) same[i] = (i % 3) * 0.5;
        run_case("n=0", NULL, 0, NULL, 0, 4, KIFMM_MAX_DEPTH, 1, seen);
        run_case("n=1", one, 1, one, 1, 4, KIFMM_MAX_DEPTH, 1, seen);
        run_case("n=2", two, 2, two, 2, 1, KIFMM_MAX_DEPTH, 1, seen);
        run_case("sources only", two, 2, NULL, 0, 1, KIFMM_MAX_DEPTH, 1, seen);
        run_case("far from origin", far, 40, far, 40, 3, KIFMM_MAX_DEPTH, 1, seen);
        run_case("coincident > leaf", same, 50, same, 50, 4, 6, 1, seen);
        run_case("coincident deepest", same, 50, one, 1, 4, KIFMM_MAX_DEPTH, 0, seen);
    }
    {   /* a given root cube: larger than the points, off centre, points on its faces */
        size_t n = 700;
        double *x = tu_new_points(n, TU_CUBE), box[4] = {0.25, 0.5, 0.75, 0.75};
        kifmm_tree t;
        x[0] = -0.5; x[4] = 1.25; x[8] = 1.5;   /* on the faces x-, y+, z+ */
        run_case_box("cube in a given box", x, n, x + 3 * (n / 2), n / 2, 6, KIFMM_MAX_DEPTH, 1, seen, box);
        CHECK(kifmm_tree_build_ex(&t, NULL, x, n, x, n, 6, KIFMM_MAX_DEPTH, 0, box, NULL) == KIFMM_OK &&
              t.center[0] == 0.25 && t.center[2] == 0.75 && t.half_width == 0.75, "the root is the box");
        kifmm_tree_free(&t);
        free(x);
    }
    {   /* bigger uniform: every transfer vector used, counting test and bounds */
        size_t n = 30000;
        double *x = tu_new_points(n, TU_CUBE);
        run_case("cube 40000", x, n, x, n, 20, KIFMM_MAX_DEPTH, 0, seen);
        free(x);
        x = tu_new_points(n, TU_PLUMMER);
        run_case("plummer 40000", x, n, x, n, 20, KIFMM_MAX_DEPTH, 0, seen);
        free(x);
    }
    for (i = 0; i < KIFMM_NUM_TRANSFER; i++) nseen += seen[i];
    CHECK(nseen == KIFMM_NUM_TRANSFER, "transfer vectors used: %d", nseen);
    printf("transfer vectors used: %d\n", nseen);
}

static void test_bad_input(void) {
    kifmm_tree t;
    double x[6] = {0, 0, 0, 1, NAN, 0}, y[3] = {0, INFINITY, 0};
    size_t bad = 0;
    kifmm_allocator half = {0, 0, 0};
    CHECK(kifmm_tree_build(&t, NULL, x, 2, x, 1, 4, 5, &bad) == KIFMM_ERR_NONFINITE_INPUT && bad == 1, "NaN");
    CHECK(kifmm_tree_build(&t, NULL, x, 1, y, 1, 4, 5, &bad) == KIFMM_ERR_NONFINITE_INPUT && bad == 1, "Inf");
    CHECK(kifmm_tree_build(&t, NULL, NULL, 2, x, 1, 4, 5, NULL) == KIFMM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK(kifmm_tree_build(&t, NULL, x, 1, x, 1, 0, 5, NULL) == KIFMM_ERR_INVALID_ARGUMENT, "leaf 0");
    CHECK(kifmm_tree_build(&t, NULL, x, 1, x, 1, 4, KIFMM_MAX_DEPTH + 1, NULL) == KIFMM_ERR_INVALID_ARGUMENT,
          "depth");
    {   /* a point outside the box (counting targets after sources), and boxes that are not */
        double box[4] = {0, 0, 0, 1}, in[6] = {1, -1, 0.5, 0, 0, 0}, out[3] = {0, 1.0000001, 0};
        CHECK(kifmm_tree_build_ex(&t, NULL, in, 2, out, 1, 4, 5, 0, box, &bad) == KIFMM_ERR_INVALID_ARGUMENT &&
              bad == 2, "outside the box: %zu", bad);
        CHECK(kifmm_tree_build_ex(&t, NULL, in, 2, in, 2, 4, 5, 0, box, NULL) == KIFMM_OK, "on its faces");
        kifmm_tree_free(&t);
        box[3] = 0;
        CHECK(kifmm_tree_build_ex(&t, NULL, in, 1, in, 1, 4, 5, 0, box, NULL) == KIFMM_ERR_INVALID_ARGUMENT, "width 0");
        box[3] = 1; box[1] = NAN;
        CHECK(kifmm_tree_build_ex(&t, NULL, in, 1, in, 1, 4, 5, 0, box, NULL) == KIFMM_ERR_INVALID_ARGUMENT, "NaN");
    }
    half.alloc_fn = tu_alloc_fn;
    CHECK(kifmm_tree_build(&t, &half, x, 1, x, 1, 4, 5, NULL) == KIFMM_ERR_INVALID_ARGUMENT, "half allocator");
}

static void test_alloc_failure(void) {
    size_t n = 600;
    double *x = tu_new_points(n, TU_PLUMMER);
    long k;
    int done = 0;
    for (k = 0; !done && k < 10000; k++) {
        tu_alloc a;
        kifmm_allocator al = tu_allocator(&a, k);
        kifmm_tree t;
        kifmm_status st = kifmm_tree_build(&t, &al, x, n, x + 3, n - 1, 6, KIFMM_MAX_DEPTH, NULL);
        if (st == KIFMM_OK) {
            CHECK(a.live_bytes >= t.bytes, "bytes held %zu vs counted %zu", t.bytes, a.live_bytes);
            kifmm_tree_free(&t);
            done = 1;
        } else {
            CHECK(st == KIFMM_ERR_OUT_OF_MEMORY, "failure %ld: status %d", k, (int)st);
            CHECK(t.nboxes == 0 && t.key == NULL, "tree zeroed after failure");
        }
        CHECK(a.live_blocks == 0 && a.live_bytes == 0 && a.bad_frees == 0,
              "failure at %ld: %ld blocks leaked, %ld bad frees", k, a.live_blocks, a.bad_frees);
    }
    CHECK(done, "never succeeded");
    printf("allocation failure: %ld allocation points tested, no leaks\n", k - 1);
    free(x);
}

/* the radix sort (each thread its own part, offsets digit by digit, thread by thread): on one
   thread sorted and stable, on more the same order for 1, 2, 3 and 7 threads, with repeated keys, a
   digit that is the same everywhere (its pass skipped) and n not a multiple of the threads; and
   when OpenMP gives fewer threads than asked (without OpenMP, or nested: a team of 1 for 2) */
static void test_radix_par(void) {
    enum { N = 100003 };
    kifmm__kv *a = (kifmm__kv *)malloc(sizeof(kifmm__kv) * N), *b = (kifmm__kv *)malloc(sizeof(kifmm__kv) * N);
    kifmm__kv *c = (kifmm__kv *)malloc(sizeof(kifmm__kv) * N), *d = (kifmm__kv *)malloc(sizeof(kifmm__kv) * N);
    size_t *cnt = (size_t *)malloc(sizeof(size_t) * 7 * 2048), i;
    int th[4] = {1, 2, 3, 7}, k, same = 1;
    kifmm__kv *ref, *got;
    for (i = 0; i < N; i++) {
        a[i].key = ((uint64_t)(tu_rand() * 5000) << 40) | ((uint64_t)(tu_rand() * 4096) << 11) | 5u;
        a[i].idx = i;
    }
    memcpy(c, a, sizeof(kifmm__kv) * N);
    ref = kifmm__radix_sort(c, d, N, 64);
    for (i = 1; i < N; i++)      /* sorted, and stable: equal keys keep their input order */
        same &= ref[i - 1].key < ref[i].key || (ref[i - 1].key == ref[i].key && ref[i - 1].idx < ref[i].idx);
    for (k = 0; k < 4; k++) {
        memcpy(b, a, sizeof(kifmm__kv) * N);
        got = kifmm__radix_sort_par(b, ref == c ? d : c, N, 64, cnt, th[k]);
        same &= memcmp(got, ref, sizeof(kifmm__kv) * N) == 0;
        if (got != b) memcpy(b, got, sizeof(kifmm__kv) * N);
    }
#ifdef _OPENMP
    {   /* asked for 2 threads inside a parallel region (nested regions inactive): a team of 1 */
        int ok = 1;
#pragma omp parallel num_threads(2)
        {
#pragma omp single
            {
                kifmm__kv *g2;
                memcpy(b, a, sizeof(kifmm__kv) * N);
                g2 = kifmm__radix_sort_par(b, ref == c ? d : c, N, 64, cnt, 2);
                ok = memcmp(g2, ref, sizeof(kifmm__kv) * N) == 0;
            }
        }
        same &= ok;
    }
#endif
    CHECK(same, "radix sort unsorted, unstable, or different across thread counts");
    free(a); free(b); free(c); free(d); free(cnt);
}

/* The Morton sort (top bits by radix, then each run of equal top bits on its own) gives the full
   stable radix sort's result: keys spread over the top bits (short runs, insertion), one run over
   several blocks (radix on the low bits), runs across block boundaries, equal keys, on 1, 2 and 3
   threads. */
static void test_morton_sort(void) {
    enum { N = 3 * KIFMM__SORT_BLOCK + 777, LOW = 3 * KIFMM_MAX_DEPTH - KIFMM__SORT_TOP };
    kifmm__kv *a = (kifmm__kv *)malloc(sizeof(kifmm__kv) * N), *b = (kifmm__kv *)malloc(sizeof(kifmm__kv) * N);
    kifmm__kv *c = (kifmm__kv *)malloc(sizeof(kifmm__kv) * N), *d = (kifmm__kv *)malloc(sizeof(kifmm__kv) * N);
    size_t *cnt = (size_t *)malloc(sizeof(size_t) * (3 * 2048 + kifmm__sort_blocks(N) + 1)), i;
    int th, kind, same = 1;
    for (kind = 0; kind < 4; kind++) {
        kifmm__kv *ref, *got;
        for (i = 0; i < N; i++) {
            uint64_t top = kind == 0 ? (uint64_t)(tu_rand() * 4e6)           /* runs of ~1 */
                         : kind == 1 ? (i % 5 == 0 ? (uint64_t)(tu_rand() * 50) : 7)   /* one huge run */
                         : kind == 2 ? (uint64_t)(tu_rand() * 20)            /* 20 runs of ~2500 */
                         : (uint64_t)(tu_rand() * 3000);                     /* runs of ~17: insertion */
            a[i].key = top << LOW | (uint64_t)(tu_rand() * (kind == 3 ? 4 : 300));   /* equal keys */
            a[i].idx = i;
        }
        memcpy(c, a, sizeof(kifmm__kv) * N);
        ref = kifmm__radix_sort(c, d, N, 3 * KIFMM_MAX_DEPTH);
        for (th = 1; th <= 3; th++) {
            memcpy(b, a, sizeof(kifmm__kv) * N);
            got = kifmm__morton_sort(b, ref == c ? d : c, N, cnt, th);
            same &= memcmp(got, ref, sizeof(kifmm__kv) * N) == 0;
        }
    }
    CHECK(same, "Morton sort differs from the full radix sort");
    free(a); free(b); free(c); free(d); free(cnt);
}

/* U and W at their bounds: a leaf whose 26 colleagues are all split into leaves (two points in
   each of them, one in the box itself, leaf size 1). A smaller capacity than the list needs is
   refused (-1), with nothing written past it, and the bounds are what KIFMM_MAX_* say. */
static void test_list_bounds(void) {
    double pts[3 * 53], box[4] = {2, 2, 2, 2};
    int n = 0, i, j, k, b, out[KIFMM_MAX_W + 1];
    kifmm_tree t;
    pts[0] = pts[1] = pts[2] = 1.5;
    n = 1;
    for (i = 0; i < 3; i++)
        for (j = 0; j < 3; j++)
            for (k = 0; k < 3; k++) {
                if (i == 1 && j == 1 && k == 1) continue;
                pts[3 * n] = i + 0.25; pts[3 * n + 1] = j + 0.25; pts[3 * n + 2] = k + 0.25; n++;
                pts[3 * n] = i + 0.75; pts[3 * n + 1] = j + 0.75; pts[3 * n + 2] = k + 0.75; n++;
            }
    CHECK(kifmm_tree_build_ex(&t, NULL, pts, (size_t)n, pts, (size_t)n, 1, 8, 0, box, NULL) == KIFMM_OK, "build");
    for (b = 0; b < t.nboxes; b++)   /* the box [1, 2]^3 at level 2 */
        if (kifmm_key_level(t.key[b]) == 2 && t.child[b] < 0 && t.src_end[b] - t.src_begin[b] == 1 &&
            t.src[t.src_begin[b]] == 1.5)
            break;
    CHECK(b < t.nboxes, "the centre leaf");
    if (b < t.nboxes) {
        CHECK(t.u_off[b + 1] - t.u_off[b] == KIFMM_MAX_U, "U at its bound: %zu", t.u_off[b + 1] - t.u_off[b]);
        CHECK(t.w_off[b + 1] - t.w_off[b] == KIFMM_MAX_W, "W at its bound: %zu", t.w_off[b + 1] - t.w_off[b]);
        out[KIFMM_MAX_U - 1] = -7;
        CHECK(kifmm__box_list(&t, b, KIFMM__U, out, KIFMM_MAX_U - 1) == -1 && out[KIFMM_MAX_U - 1] == -7,
              "a list longer than its room is refused, nothing written past it");
        CHECK(kifmm__box_list(&t, b, KIFMM__W, out, KIFMM_MAX_W) == KIFMM_MAX_W, "W fits its bound");
    }
    printf("list bounds: U %d, W %d reached (KIFMM_MAX_U %d, KIFMM_MAX_W %d)\n", t.u_max, t.w_max, KIFMM_MAX_U,
           KIFMM_MAX_W);
    kifmm_tree_free(&t);
}

int main(void) {
    test_keys();
    test_list_bounds();
    test_morton_sort();
    test_trees();
    test_bad_input();
    test_alloc_failure();
    test_radix_par();
    printf("%s: %d failures\n", tu_failures ? "FAIL" : "OK", tu_failures);
    return tu_failures != 0;
}
