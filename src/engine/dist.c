/* dist.c: running one model over several ranks (src/dist): loading each rank's share and agreeing
 * that every rank has it, and mirroring rank 0's session and batch calls on the other ranks. Rank 0
 * is the only one a program drives: before each call that runs the forward pass or changes a
 * session, it broadcasts a control message (and the call's ids), and gptoss_dist_follow on every
 * other rank makes the same call on its own copy of that session, so that each forward pass runs on
 * every rank at once and their exchanges meet. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "engine/session.h"

enum {
    OP_STOP = 1,
    OP_SESSION_CREATE,
    OP_SESSION_FREE,
    OP_SESSION_RESET,
    OP_SESSION_TRUNCATE,
    OP_SESSION_APPEND,
    OP_SESSION_COPY_PREFIX,
    OP_BATCH_CREATE,
    OP_BATCH_DECODE,
    OP_BATCH_FREE,
};

/* One control message; a payload (ids) follows in a second broadcast when n says so. */
typedef struct dist_msg {
    uint32_t op, flags;
    uint64_t id, id2, n;
    uint32_t a, b, c, d;
} dist_msg;

static uint64_t last_id; /* rank 0's session and batch ids (0: none) */

static void bcast_msg(gptoss_comm *c, dist_msg *m) { gptoss_comm_bcast(c, m, sizeof *m, 0); }

gptoss_status gptoss_dist_init(int *argc, char ***argv, char *err, size_t err_size) {
    return gptoss_comm_init(argc, argv, err, err_size);
}
int gptoss_dist_rank(void) { return gptoss_comm_rank(gptoss_comm_world()); }
int gptoss_dist_size(void) { return gptoss_comm_size(gptoss_comm_world()); }
void gptoss_dist_finalize(void) { gptoss_comm_finalize(); }
void gptoss_dist_on_lost(void (*fn)(void *ctx, const char *why), void *ctx) { gptoss_comm_on_lost(fn, ctx); }
int gptoss_dist_rank_gone(char *why, size_t why_size) { return gptoss_comm_peer_gone(why, why_size); }
void gptoss_dist_comm_stats(double *seconds, uint64_t *bytes_received, int reset) {
    gptoss_comm_stats(seconds, bytes_received, reset);
}

static void lead_stop(gptoss_model *m) {
    dist_msg msg = {.op = OP_STOP};
    bcast_msg(m->shard->comm, &msg);
}

/* What every rank's model must share: its shape and how it computes. */
static uint64_t fingerprint(const gptoss_model *m) {
    uint64_t h = 1469598103934665603ull;
    const unsigned char *p = (const unsigned char *)&m->config;
    for (size_t i = 0; i < sizeof m->config; i++) h = (h ^ p[i]) * 1099511628211ull;
    const uint64_t more[3] = {(uint64_t)m->exact, (uint64_t)m->unembedding.dtype, (uint64_t)m->layers[0].wq.dtype};
    for (int k = 0; k < 3; k++) h = (h ^ more[k]) * 1099511628211ull;
    return h;
}

gptoss_status gptoss_dist_model_open(const char *path, const gptoss_model_options *o, gptoss_model **out, char *err,
                                     size_t err_size) {
    gptoss_comm *c = gptoss_comm_world();
    const int rank = gptoss_comm_rank(c), size = gptoss_comm_size(c);
    gptoss_model_options opt = *o;
    gptoss_status st;
    char why[400] = "";
    if (opt.device == GPTOSS_DEVICE_CUDA)
        st = gptoss_fail(GPTOSS_ERR_UNSUPPORTED, why, sizeof why, "a model shared by several ranks runs on the CPU");
    else {
        opt.device = GPTOSS_DEVICE_CPU;
        st = gptoss_model_open_shard(path, &opt, (uint32_t)rank, (uint32_t)size, out, why, sizeof why);
    }
    if (st == GPTOSS_OK && !(*out)->shard) {
        st = gptoss_fail(GPTOSS_ERR_UNSUPPORTED, why, sizeof why, "this model cannot be sharded");
        gptoss_model_free(*out);
        *out = NULL;
    }
    char agreed[512] = "";
    const int bad = gptoss_comm_agree(c, st == GPTOSS_OK, why, st == GPTOSS_OK ? fingerprint(*out) : 0, agreed,
                                      sizeof agreed);
    if (bad >= 0) {
        gptoss_model_free(*out);
        *out = NULL;
        return gptoss_fail(st != GPTOSS_OK ? st : GPTOSS_ERR_FORMAT, err, err_size,
                           "cannot load %s on every one of %d ranks: %s", path, size, agreed);
    }
    (*out)->shard->comm = c;
    if (rank == 0) (*out)->dist_free = lead_stop;
    return GPTOSS_OK;
}

/* ---- rank 0: tell the others ---- */

gptoss_status gptoss_dist_lead_session_create(gptoss_session *s, const gptoss_session_options *o, char *err,
                                              size_t err_size) {
    gptoss_comm *c = s->model->shard->comm;
    s->dist_id = ++last_id;
    dist_msg msg = {.op = OP_SESSION_CREATE, .id = s->dist_id, .a = o->n_ctx, .b = o->n_batch, .c = o->n_threads,
                    .d = (uint32_t)o->kv_type};
    bcast_msg(c, &msg);
    char agreed[512] = "";
    if (gptoss_comm_agree(c, 1, "", 0, agreed, sizeof agreed) >= 0) {
        s->dist_id = 0; /* the others kept no session of this id */
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "cannot create the session on every rank: %s",
                           agreed);
    }
    return GPTOSS_OK;
}

static void lead_simple(const gptoss_session *s, uint32_t op, uint64_t id2, uint64_t n) {
    if (!s->dist_id) return;
    dist_msg msg = {.op = op, .id = s->dist_id, .id2 = id2, .n = n};
    bcast_msg(s->model->shard->comm, &msg);
}

void gptoss_dist_lead_session_free(const gptoss_session *s) { lead_simple(s, OP_SESSION_FREE, 0, 0); }
void gptoss_dist_lead_session_reset(const gptoss_session *s) { lead_simple(s, OP_SESSION_RESET, 0, 0); }
void gptoss_dist_lead_session_truncate(const gptoss_session *s, uint32_t n_tokens) {
    lead_simple(s, OP_SESSION_TRUNCATE, 0, n_tokens);
}
void gptoss_dist_lead_session_copy_prefix(const gptoss_session *dst, const gptoss_session *src, uint32_t n_tokens) {
    if (src->dist_id) lead_simple(dst, OP_SESSION_COPY_PREFIX, src->dist_id, n_tokens);
}

void gptoss_dist_lead_session_append(const gptoss_session *s, const uint32_t *ids, size_t n_ids, int all_logits) {
    if (!s->dist_id || !n_ids) return;
    gptoss_comm *c = s->model->shard->comm;
    dist_msg msg = {.op = OP_SESSION_APPEND, .id = s->dist_id, .n = n_ids, .flags = all_logits != 0};
    bcast_msg(c, &msg);
    gptoss_comm_bcast(c, (void *)(uintptr_t)ids, n_ids * sizeof *ids, 0); /* read, not written, at the root */
}

uint64_t gptoss_dist_lead_batch_create(const gptoss_model *m, uint32_t max_sequences, uint32_t max_ctx, char *err,
                                       size_t err_size) {
    gptoss_comm *c = m->shard->comm;
    dist_msg msg = {.op = OP_BATCH_CREATE, .id = ++last_id, .a = max_sequences, .b = max_ctx};
    bcast_msg(c, &msg);
    char agreed[512] = "";
    if (gptoss_comm_agree(c, 1, "", 0, agreed, sizeof agreed) >= 0) {
        gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "cannot create the batch on every rank: %s", agreed);
        return 0;
    }
    return msg.id;
}

void gptoss_dist_lead_batch_decode(const gptoss_model *m, uint64_t batch_id, gptoss_session *const *sessions,
                                   const uint32_t *ids, size_t n) {
    gptoss_comm *c = m->shard->comm;
    dist_msg msg = {.op = OP_BATCH_DECODE, .id = batch_id, .n = n};
    bcast_msg(c, &msg);
    /* payload: n session ids, then n token ids (as u64) */
    uint64_t buf[2 * 64];
    for (size_t done = 0; done < n;) {
        const size_t k = n - done < 64 ? n - done : 64;
        for (size_t i = 0; i < k; i++) {
            buf[i] = sessions[done + i]->dist_id;
            buf[64 + i] = ids[done + i];
        }
        gptoss_comm_bcast(c, buf, sizeof buf, 0);
        done += k;
    }
}

void gptoss_dist_lead_batch_free(const gptoss_model *m, uint64_t batch_id) {
    dist_msg msg = {.op = OP_BATCH_FREE, .id = batch_id};
    bcast_msg(m->shard->comm, &msg);
}

/* ---- the other ranks: do the same ---- */

typedef struct follow_entry {
    uint64_t id;
    void *obj; /* gptoss_session * or gptoss_batch * */
    int is_batch;
} follow_entry;

typedef struct follower {
    gptoss_model *m;
    gptoss_comm *c;
    follow_entry *e;
    size_t n, cap;
    float *logits; /* an append's every-row logits (this rank's columns are written, then sent) */
    size_t logits_floats;
    uint32_t *ids;
    gptoss_session **sess;
    size_t ids_cap, sess_cap;
} follower;

static follow_entry *find(follower *f, uint64_t id) {
    for (size_t i = 0; i < f->n; i++)
        if (f->e[i].id == id) return &f->e[i];
    return NULL;
}

static void *grow(void *p, size_t *cap, size_t want, size_t elem) {
    if (want <= *cap) return p;
    size_t n = *cap ? *cap : 16;
    while (n < want) n *= 2;
    void *q = realloc(p, n * elem);
    if (q) *cap = n;
    return q;
}

static void lost(follower *f, const char *what) {
    char why[256];
    snprintf(why, sizeof why, "cannot follow rank 0: %s", what);
    gptoss_comm_abort(f->c, 1, why);
}

static gptoss_session *session_of(follower *f, uint64_t id) {
    follow_entry *e = find(f, id);
    if (!e || e->is_batch) lost(f, "unknown session");
    return e->obj;
}

static void add_entry(follower *f, uint64_t id, void *obj, int is_batch) {
    follow_entry *e = grow(f->e, &f->cap, f->n + 1, sizeof *e);
    if (!e) lost(f, "out of memory");
    f->e = e;
    f->e[f->n++] = (follow_entry){id, obj, is_batch};
}

static void drop_entry(follower *f, follow_entry *e) {
    if (e->is_batch) gptoss_batch_free(e->obj);
    else gptoss_session_free(e->obj);
    *e = f->e[--f->n];
}

static void follow_append(follower *f, const dist_msg *msg) {
    gptoss_session *s = session_of(f, msg->id);
    const size_t n = msg->n, V = f->m->config.vocab_size;
    uint32_t *ids = grow(f->ids, &f->ids_cap, n, sizeof *ids);
    if (!ids) lost(f, "out of memory");
    f->ids = ids;
    gptoss_comm_bcast(f->c, ids, n * sizeof *ids, 0);
    float *all = NULL;
    if (msg->flags & 1) {
        if (n * V > f->logits_floats) {
            free(f->logits);
            f->logits = malloc(n * V * sizeof(float));
            f->logits_floats = f->logits ? n * V : 0;
            if (!f->logits) lost(f, "out of memory for every row's logits");
        }
        all = f->logits;
    }
    char err[256];
    /* rank 0 checked the call before sending it; the same session state gives the same answer here */
    if (gptoss_session_append(s, ids, n, all, err, sizeof err) != GPTOSS_OK) lost(f, err);
}

static void follow_batch_decode(follower *f, const dist_msg *msg) {
    follow_entry *be = find(f, msg->id);
    if (!be || !be->is_batch) lost(f, "unknown batch");
    const size_t n = msg->n;
    uint32_t *ids = grow(f->ids, &f->ids_cap, n, sizeof *ids);
    if (!ids) lost(f, "out of memory");
    f->ids = ids;
    gptoss_session **sess = grow(f->sess, &f->sess_cap, n, sizeof *sess);
    if (!sess) lost(f, "out of memory");
    f->sess = sess;
    uint64_t buf[2 * 64];
    for (size_t done = 0; done < n;) {
        const size_t k = n - done < 64 ? n - done : 64;
        gptoss_comm_bcast(f->c, buf, sizeof buf, 0);
        for (size_t i = 0; i < k; i++) {
            sess[done + i] = session_of(f, buf[i]);
            ids[done + i] = (uint32_t)buf[64 + i];
        }
        done += k;
    }
    char err[256];
    if (gptoss_batch_decode(be->obj, sess, ids, n, err, sizeof err) != GPTOSS_OK) lost(f, err);
}

gptoss_status gptoss_dist_follow(gptoss_model *m, char *err, size_t err_size) {
    if (!m || !m->shard)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "no model shared by several ranks");
    if (m->shard->rank == 0)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "rank 0 leads; only the other ranks follow");
    follower f = {.m = m, .c = m->shard->comm};
    for (;;) {
        dist_msg msg;
        bcast_msg(f.c, &msg);
        char why[256] = "";
        if (msg.op == OP_STOP) break;
        switch (msg.op) {
        case OP_SESSION_CREATE: {
            gptoss_session_options o = {.n_ctx = msg.a, .n_batch = msg.b, .n_threads = msg.c,
                                        .kv_type = (gptoss_kv_type)msg.d, .device = GPTOSS_DEVICE_CPU};
            gptoss_session *s = NULL;
            gptoss_status st = gptoss_session_create(m, &o, &s, why, sizeof why);
            if (st == GPTOSS_OK && find(&f, msg.id)) st = gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, why, sizeof why, "session id reused");
            char agreed[512];
            if (gptoss_comm_agree(f.c, st == GPTOSS_OK, why, 0, agreed, sizeof agreed) >= 0) gptoss_session_free(s);
            else add_entry(&f, msg.id, s, 0);
            break;
        }
        case OP_BATCH_CREATE: {
            gptoss_batch *b = NULL;
            gptoss_status st = gptoss_batch_create(m, msg.a, msg.b, &b, why, sizeof why);
            char agreed[512];
            if (gptoss_comm_agree(f.c, st == GPTOSS_OK, why, 0, agreed, sizeof agreed) >= 0) gptoss_batch_free(b);
            else add_entry(&f, msg.id, b, 1);
            break;
        }
        case OP_SESSION_FREE:
        case OP_BATCH_FREE: {
            follow_entry *e = find(&f, msg.id);
            if (e) drop_entry(&f, e);
            break;
        }
        case OP_SESSION_RESET: gptoss_session_reset(session_of(&f, msg.id)); break;
        case OP_SESSION_TRUNCATE:
            /* the same answer as on rank 0, which goes on whatever it was */
            (void)gptoss_session_truncate(session_of(&f, msg.id), (uint32_t)msg.n, why, sizeof why);
            break;
        case OP_SESSION_COPY_PREFIX:
            (void)gptoss_session_copy_prefix(session_of(&f, msg.id), session_of(&f, msg.id2), (uint32_t)msg.n, why,
                                             sizeof why);
            break;
        case OP_SESSION_APPEND: follow_append(&f, &msg); break;
        case OP_BATCH_DECODE: follow_batch_decode(&f, &msg); break;
        default: lost(&f, "unknown control message");
        }
    }
    while (f.n) drop_entry(&f, &f.e[f.n - 1]);
    free(f.e);
    free(f.logits);
    free(f.ids);
    free(f.sess);
    return GPTOSS_OK;
}
