/* server_sched.c: the scheduler thread of `gptoss serve`. Continuous batching: every iteration
 * admits queued jobs into free slots, feeds one chunk of prompt to each slot still prefilling,
 * samples one token for every decoding slot and then runs a single forward step for all of them
 * (engine->step, gptoss_batch_decode in production). A job leaves its slot the moment it finishes
 * or its client goes away; the slot's KV cache stays as it is until the slot is taken again.
 * Prefix reuse: each slot remembers the ids its cache holds; a new sequence starts from the
 * longest prefix of its prompt found in its own slot (rewound) or another slot (copied), and the
 * sequences of an n > 1 request copy the first one's prefill. Beyond the slots, a bounded queue;
 * server_sched_submit refuses when it is full (HTTP 429). Output constraints: what each constrained
 * sequence may write next is computed by a gptoss_constraint_worker while the forward step that
 * feeds its last token runs, so sampling finds its mask ready. Tool calls run server-side (the
 * browser): a sequence whose protocol asks for one waits in its slot (SLOT_TOOL, its KV cache kept)
 * while the call runs on a thread of its own, then the reply's tokens are appended to the slot and it
 * decodes on: the scheduler never waits for a tool, and nothing is prefilled again. */
#ifdef GPTOSS_HAVE_SERVER
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "server/server.h"

#define TPS_BUCKETS 10

typedef enum slot_state { SLOT_FREE = 0, SLOT_PREFILL, SLOT_DECODE, SLOT_TOOL } slot_state;

typedef struct slot {
    slot_state state;
    server_job *job;
    uint32_t seq;  /* which of the job's sequences */
    size_t n_fed; /* prompt tokens in the cache so far (reused or appended) */
    int deciding;  /* admitted; where its prefill starts is not chosen yet */
    /* The ids the slot's KV cache holds, in order (n_ctx places), kept while the slot is free. */
    uint32_t *ids;
    uint32_t n_ids;
    uint32_t owner_key;  /* whose tokens ids are (server_job's owner_key, owner_user) */
    uint64_t owner_user;
    uint64_t used; /* when it was last taken or freed (least recently used first) */
    int tried;     /* choose_prefix's scratch */
    /* SLOT_TOOL: which wait this is (a tool thread that outlives its sequence, cancelled meanwhile,
     * must not wake a later one) and whether its call returned (both under the scheduler's mu) */
    uint64_t tool_gen;
    int tool_done;
} slot;

/* A copy from another slot must save at least this many tokens of prefill (a copy moves the whole
 * prefix's KV rows; a rewind in place moves nothing). */
#define COPY_MIN_GAIN 16

struct server_sched {
    server_engine *engine;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int stop, started;
    /* a rank of a sharded model died (server_sched_fail): jobs end with a 503 saying why; exited:
     * the scheduler thread is done with the jobs (it returned, or is parked for good) */
    int lost, exited;
    int working; /* the scheduler thread is out of its wait, doing a step (engine calls included) */
    char lost_why[256];
    server_job **queue; /* FIFO ring */
    uint32_t q_cap, q_head, q_len;
    slot *slots;
    uint32_t prefill_chunk;
    /* scratch of a step */
    uint32_t *step_slots, *step_ids;
    gptoss_constraint_next *next; /* per slot: what its constraint allows this step */
    uint8_t *next_ready;          /* per slot: next[] came from the worker during the last step */
    gptoss_status *next_status;   /* per slot: the worker's status for it */
    /* the worker's batch: the constrained slots of a step, their states and answers, in step order */
    gptoss_constraint_worker *masks;
    uint32_t *mask_slots;
    gptoss_constraint_state **mask_states;
    gptoss_constraint_next *mask_next;
    gptoss_status *mask_status;
    /* stats (under mu) */
    uint64_t prompt_tokens, generated_tokens, steps, finished, cancelled, decode_tokens;
    uint64_t prompt_cached, prompt_prefilled;
    uint64_t clock; /* LRU stamps (scheduler thread and admission, under mu) */
    double decode_seconds, prefill_seconds;
    uint32_t active;
    uint32_t n_tool_threads; /* tool calls running; shutdown waits for them (they hold s) */
    int64_t bucket_sec[TPS_BUCKETS];
    uint64_t bucket_n[TPS_BUCKETS];
    double t_start;
};

/* ---- jobs ------------------------------------------------------------------------------------ */

server_job *server_job_new(void) {
    server_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cond, NULL);
    j->refs = 1;
    j->n_seq = 1;
    j->t_submit = cli_now_s();
    return j;
}

void server_job_retain(server_job *j) {
    pthread_mutex_lock(&j->mu);
    j->refs++;
    pthread_mutex_unlock(&j->mu);
}

void server_job_release(server_job *j) {
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    int refs = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (refs > 0) return;
    if (j->ops && j->ops->free_proto) j->ops->free_proto(j->proto);
    for (uint32_t k = 0; k < SERVER_MAX_SEQS; k++) {
        gptoss_sampler_free(j->seqs[k].sampler);
        gptoss_constraint_state_free(j->seqs[k].constraint); /* before the constraint they walk */
        gptoss_tokens_free(&j->seqs[k].resume);
    }
    server_rules_free(j->rules);
    free(j->prompt);
    gptoss_buf_free(&j->out);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cond);
    free(j);
}

void server_job_emit(server_job *j, const char *data, size_t len) {
    gptoss_buf_append(&j->out, data, len);
    pthread_cond_broadcast(&j->cond);
}

void server_job_cancel(server_job *j) {
    pthread_mutex_lock(&j->mu);
    j->cancelled = 1;
    pthread_mutex_unlock(&j->mu);
}

/* Ends sequence k of a job: its protocol hears of it; when it was the job's last, the protocol writes
 * the last output, waiters wake and the scheduler's reference goes. */
static void finish_seq(server_sched *s, server_job *j, uint32_t k, server_finish why, const char *error) {
    pthread_mutex_lock(&s->mu);
    int lost = s->lost;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_lock(&j->mu);
    if (lost && why == SERVER_FINISH_ERROR) j->error_status = 503; /* the model is gone, not this request */
    if (j->cancelled && why != SERVER_FINISH_ERROR) why = SERVER_FINISH_CANCELLED;
    server_seq *q = &j->seqs[k];
    if (!q->finish) q->finish = why;
    if (error && !j->error[0]) snprintf(j->error, sizeof j->error, "%s", error);
    if (j->ops && j->ops->on_seq_finish) j->ops->on_seq_finish(j, k);
    int last = ++j->n_ended == j->n_seq;
    if (last) {
        j->finish = j->seqs[0].finish;
        for (uint32_t i = 0; i < j->n_seq; i++) {
            if (j->seqs[i].finish == SERVER_FINISH_ERROR) j->finish = SERVER_FINISH_ERROR;
            else if (j->seqs[i].finish == SERVER_FINISH_CANCELLED && j->finish != SERVER_FINISH_ERROR)
                j->finish = SERVER_FINISH_CANCELLED;
        }
        j->t_done = cli_now_s();
        if (j->ops && j->ops->on_finish) j->ops->on_finish(j);
        j->done = 1;
        pthread_cond_broadcast(&j->cond);
    }
    server_finish jf = j->finish;
    pthread_mutex_unlock(&j->mu);
    if (!last) return;
    pthread_mutex_lock(&s->mu);
    s->finished++;
    if (jf == SERVER_FINISH_CANCELLED) s->cancelled++;
    pthread_mutex_unlock(&s->mu);
    server_job_release(j);
}

/* Ends the sequences of a job that never got a slot (it leaves the queue). */
static void finish_unadmitted(server_sched *s, server_job *j, server_finish why, const char *error) {
    uint32_t from = j->n_admitted, to = j->n_seq;
    j->n_admitted = to;
    for (uint32_t k = from; k < to; k++) finish_seq(s, j, k, why, error);
}

static int job_cancelled(server_job *j) {
    pthread_mutex_lock(&j->mu);
    int c = j->cancelled;
    pthread_mutex_unlock(&j->mu);
    return c;
}

/* ---- queue ----------------------------------------------------------------------------------- */

int server_sched_submit(server_sched *s, server_job *j) {
    pthread_mutex_lock(&s->mu);
    if (s->lost) {
        pthread_mutex_unlock(&s->mu);
        return -2;
    }
    if (s->stop || s->q_len >= s->q_cap) {
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    server_job_retain(j);
    s->queue[(s->q_head + s->q_len) % s->q_cap] = j;
    s->q_len++;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* Removes cancelled jobs from the queue (lock held); they are finished by the caller. */
static size_t sweep_queue(server_sched *s, server_job **dropped, size_t max) {
    size_t n_drop = 0;
    uint32_t keep = 0;
    for (uint32_t i = 0; i < s->q_len; i++) {
        server_job *j = s->queue[(s->q_head + i) % s->q_cap];
        if (n_drop < max && job_cancelled(j)) dropped[n_drop++] = j;
        else s->queue[(s->q_head + keep++) % s->q_cap] = j;
    }
    s->q_len = keep;
    return n_drop;
}

void server_sched_stats(server_sched *s, server_stats *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    out->prompt_tokens = s->prompt_tokens;
    out->prompt_tokens_cached = s->prompt_cached;
    out->prompt_tokens_prefilled = s->prompt_prefilled;
    out->generated_tokens = s->generated_tokens;
    out->steps = s->steps;
    out->decode_tokens = s->decode_tokens;
    out->decode_seconds = s->decode_seconds;
    out->prefill_seconds = s->prefill_seconds;
    out->finished = s->finished;
    out->cancelled = s->cancelled;
    out->active = s->active;
    out->queued = s->q_len;
    out->slots = s->engine->n_slots;
    out->queue_cap = s->q_cap;
    double now = cli_now_s();
    int64_t sec = (int64_t)now;
    uint64_t n = 0;
    for (int i = 0; i < TPS_BUCKETS; i++)
        if (s->bucket_sec[i] < sec && s->bucket_sec[i] >= sec - TPS_BUCKETS) n += s->bucket_n[i];
    double span = now - s->t_start;
    if (span > TPS_BUCKETS) span = TPS_BUCKETS;
    else span = (double)(int64_t)span;
    out->tokens_per_second = span >= 1 ? (double)n / span : 0;
    pthread_mutex_unlock(&s->mu);
}

static void count_tokens(server_sched *s, uint64_t n) {
    int64_t sec = (int64_t)cli_now_s();
    int b = (int)(sec % TPS_BUCKETS);
    pthread_mutex_lock(&s->mu);
    if (s->bucket_sec[b] != sec) {
        s->bucket_sec[b] = sec;
        s->bucket_n[b] = 0;
    }
    s->bucket_n[b] += n;
    s->generated_tokens += n;
    pthread_mutex_unlock(&s->mu);
}

/* ---- the loop -------------------------------------------------------------------------------- */

/* Forgets a slot's tokens (its cache is then empty). */
static void forget_slot(server_sched *s, uint32_t i) {
    s->engine->reset(s->engine->ctx, i);
    s->slots[i].n_ids = 0;
}

/* Frees a slot; its cache stays for a later prompt with the same prefix, unless the engine failed. */
static void free_slot(server_sched *s, uint32_t i, int keep_cache) {
    if (!keep_cache) forget_slot(s, i);
    s->next_ready[i] = 0;
    s->slots[i].state = SLOT_FREE;
    s->slots[i].job = NULL;
    s->slots[i].n_fed = 0;
    s->slots[i].deciding = 0;
    pthread_mutex_lock(&s->mu);
    s->slots[i].used = ++s->clock;
    s->active--;
    pthread_mutex_unlock(&s->mu);
}

/* Frees a slot, then ends its sequence: a client that has its answer sees the slot free already. */
static void end_slot(server_sched *s, uint32_t i, server_finish why, const char *error) {
    server_job *j = s->slots[i].job;
    uint32_t k = s->slots[i].seq;
    free_slot(s, i, why != SERVER_FINISH_ERROR);
    finish_seq(s, j, k, why, error);
}

/* ---- prefix reuse ---------------------------------------------------------------------------- */

/* Tokens a slot's cache shares with the start of a job's prompt, at most n_prompt - 1: the last
 * prompt token is always fed, for the logits of the first sample. None when the slot's tokens are
 * another owner's: reusing them would show in cached_tokens (and in time to first token) what that
 * client sent. */
static uint32_t shared_prefix(const slot *sl, const server_job *j) {
    if (sl->owner_key != j->owner_key || sl->owner_user != j->owner_user) return 0;
    size_t max = j->n_prompt ? j->n_prompt - 1 : 0, n = 0;
    if (max > sl->n_ids) max = sl->n_ids;
    while (n < max && sl->ids[n] == j->prompt[n]) n++;
    return (uint32_t)n;
}

/* The free slot for a job's next sequence (lock held; one is free): for its first sequence the one
 * sharing the longest prefix with the prompt, least recently used on ties; for the others (they
 * copy the first one's prefill) the least recently used. */
static uint32_t pick_slot(server_sched *s, const server_job *j) {
    uint32_t best = UINT32_MAX, best_shared = 0;
    for (uint32_t i = 0; i < s->engine->n_slots; i++) {
        const slot *sl = &s->slots[i];
        if (sl->state != SLOT_FREE) continue;
        uint32_t n = j->n_admitted == 0 ? shared_prefix(sl, j) : 0;
        if (best == UINT32_MAX || n > best_shared || (n == best_shared && sl->used < s->slots[best].used)) {
            best = i;
            best_shared = n;
        }
    }
    return best;
}

/* Another slot of the same job is prefilling the prompt: this one waits to copy it. */
static int sibling_prefilling(const server_sched *s, uint32_t i) {
    for (uint32_t k = 0; k < s->engine->n_slots; k++)
        if (k != i && s->slots[k].state == SLOT_PREFILL && !s->slots[k].deciding && s->slots[k].job == s->slots[i].job)
            return 1;
    return 0;
}

/* Tokens of a job's prompt taken from the cache: the first of its sequences to start says (later ones
 * copy within the request). */
static void count_cached(server_sched *s, server_job *j, uint32_t n) {
    pthread_mutex_lock(&j->mu);
    int first = !j->prefix_known;
    j->prefix_known = 1;
    if (first) j->n_cached = n;
    pthread_mutex_unlock(&j->mu);
    if (!first) return;
    pthread_mutex_lock(&s->mu);
    s->prompt_cached += n;
    pthread_mutex_unlock(&s->mu);
}

/* Where slot i's prefill starts: the longest prefix of its prompt held by its own cache (rewound in
 * place) or by another slot's (copied, when that saves COPY_MIN_GAIN tokens or more over what its own
 * cache gives), else nothing (reset). The engine refuses a rewind or copy that the sliding-window
 * cache cannot do (it keeps only one prefill chunk behind the furthest point reached); then the next
 * longest is tried. */
static void choose_prefix(server_sched *s, uint32_t i) {
    server_engine *e = s->engine;
    slot *sl = &s->slots[i];
    server_job *j = sl->job;
    for (uint32_t k = 0; k < e->n_slots; k++) s->slots[k].tried = 0;
    uint32_t got = 0, own = shared_prefix(sl, j);
    if (!e->truncate) own = 0, sl->tried = 1;
    for (;;) {
        uint32_t best = UINT32_MAX, best_n = 0;
        for (uint32_t k = 0; k < e->n_slots; k++) {
            if (s->slots[k].tried) continue;
            uint32_t n = k == i ? own : shared_prefix(&s->slots[k], j);
            if (k != i && (!e->copy || n < own + COPY_MIN_GAIN)) continue;
            if (n > best_n || (n == best_n && k == i)) best = k, best_n = n;
        }
        if (best == UINT32_MAX || best_n == 0) break;
        s->slots[best].tried = 1;
        char err[256];
        if (best == i) {
            if (e->truncate(e->ctx, i, best_n, err, sizeof err) == 0) {
                got = best_n;
                break;
            }
            own = 0; /* copies of any useful length may now do better */
        } else if (e->copy(e->ctx, i, best, best_n, err, sizeof err) == 0) {
            memcpy(sl->ids, s->slots[best].ids, (size_t)best_n * sizeof *sl->ids);
            got = best_n;
            break;
        }
    }
    if (!got) forget_slot(s, i);
    sl->owner_key = j->owner_key; /* from here on its tokens are this job's */
    sl->owner_user = j->owner_user;
    sl->n_ids = got;
    sl->n_fed = got;
    sl->deciding = 0;
    count_cached(s, j, got);
}

/* Slot i has just prefilled its whole prompt (its logits are those of the prompt): the job's other
 * sequences still waiting copy it and start decoding with it. */
static void share_prefill(server_sched *s, uint32_t i) {
    server_engine *e = s->engine;
    const slot *from = &s->slots[i];
    if (!e->copy) return;
    for (uint32_t k = 0; k < e->n_slots; k++) {
        slot *sl = &s->slots[k];
        if (k == i || sl->state != SLOT_PREFILL || !sl->deciding || sl->job != from->job) continue;
        char err[256];
        if (e->copy(e->ctx, k, i, from->n_ids, err, sizeof err) != 0) continue; /* it will prefill itself */
        memcpy(sl->ids, from->ids, (size_t)from->n_ids * sizeof *sl->ids);
        sl->owner_key = from->owner_key;
        sl->owner_user = from->owner_user;
        sl->n_ids = from->n_ids;
        sl->n_fed = from->n_fed;
        sl->deciding = 0;
        sl->state = SLOT_DECODE;
    }
}

/* What slot i's sequence may write next (its constraint's mask, a forced token, or anything): the
 * worker's answer from the last step, else computed here (the first token after the prompt). Every
 * decoding slot's is known before any of them samples. Returns 0, or -1 when the sequence ended. */
static int constrain_slot(server_sched *s, uint32_t i) {
    gptoss_constraint_state *c = s->slots[i].job->seqs[s->slots[i].seq].constraint;
    gptoss_status st = GPTOSS_OK;
    if (s->next_ready[i]) {
        s->next_ready[i] = 0;
        st = s->next_status[i];
    } else {
        s->next[i] = (gptoss_constraint_next){GPTOSS_NEXT_ANY, 0, NULL};
        if (c) st = gptoss_constraint_state_next(c, &s->next[i]);
    }
    if (st == GPTOSS_OK) return 0;
    end_slot(s, i, SERVER_FINISH_ERROR, "the output constraint failed");
    return -1;
}

/* Starts the worker on the constrained slots among the n about to step (their constraints have
 * taken this step's token). Returns how many it took. */
static size_t start_masks(server_sched *s, size_t n) {
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        const slot *sl = &s->slots[s->step_slots[k]];
        gptoss_constraint_state *c = sl->job->seqs[sl->seq].constraint;
        if (!c || gptoss_constraint_state_is_done(c)) continue;
        s->mask_slots[m] = s->step_slots[k];
        s->mask_states[m++] = c;
    }
    if (m && gptoss_constraint_worker_start(s->masks, s->mask_states, m, s->mask_next, s->mask_status) != GPTOSS_OK)
        m = 0; /* cannot happen (one batch at a time); the next iteration computes them itself */
    return m;
}

/* Waits for the worker's batch and files each answer under its slot. */
static void finish_masks(server_sched *s, size_t m) {
    if (!m) return;
    gptoss_constraint_worker_wait(s->masks);
    for (size_t k = 0; k < m; k++) {
        uint32_t i = s->mask_slots[k];
        s->next[i] = s->mask_next[k];
        s->next_status[i] = s->mask_status[k];
        s->next_ready[i] = 1;
    }
}

/* Picks the next token of a decoding slot (forced by the sequence's constraint, or sampled under its
 * mask) and hands it to the job's protocol. Returns 1 when the token is to be fed back (the sequence
 * goes on), 0 when the sequence finished. */
static int sample_slot(server_sched *s, uint32_t i, uint32_t *id) {
    slot *sl = &s->slots[i];
    server_job *j = sl->job;
    uint32_t k = sl->seq;
    server_seq *q = &j->seqs[k];
    char err[256] = "";
    const gptoss_constraint_next *nx = &s->next[i];
    if (nx->kind == GPTOSS_NEXT_FORCED) *id = nx->id;
    else if (s->engine->sample(s->engine->ctx, i, q->sampler, nx->kind == GPTOSS_NEXT_MASKED ? nx->bits : NULL, id,
                               err, sizeof err) != 0) {
        end_slot(s, i, SERVER_FINISH_ERROR, err[0] ? err : "sampling failed");
        return 0;
    }
    /* A token the constraint refuses (an engine that ignored the mask) ends the sequence. */
    if (q->constraint && gptoss_constraint_state_accept(q->constraint, *id) != GPTOSS_OK) {
        end_slot(s, i, SERVER_FINISH_ERROR, "sampling failed: a token outside the output constraint");
        return 0;
    }
    count_tokens(s, 1);
    pthread_mutex_lock(&j->mu);
    if (!j->n_generated) j->t_first = cli_now_s();
    j->n_generated++;
    q->n_generated++;
    int stop = j->ops->on_token(j, k, *id);
    server_finish why = q->finish ? q->finish : SERVER_FINISH_STOP;
    if (!stop && j->max_tokens && q->n_generated >= j->max_tokens) stop = 1, why = SERVER_FINISH_LENGTH;
    /* The fed-back token must fit: a full context ends the sequence. */
    if (!stop && j->n_prompt + q->n_generated + q->n_appended >= s->engine->n_ctx) stop = 1, why = SERVER_FINISH_LENGTH;
    pthread_mutex_unlock(&j->mu);
    if (stop) {
        end_slot(s, i, why, NULL);
        return 0;
    }
    return 1;
}

/* ---- tool calls ------------------------------------------------------------------------------ */

typedef struct tool_run {
    server_sched *s;
    server_job *job;
    uint32_t slot, seq;
    uint64_t gen;
} tool_run;

/* Runs one call off the scheduler's thread: its reply goes to the sequence (under the job's lock),
 * then the slot is marked ready and the scheduler woken. The job's reference is dropped before the
 * count of running calls: shutdown waits for that count, and the job's last release may reach the
 * server's store. */
static void *tool_thread(void *arg) {
    tool_run *t = arg;
    server_sched *s = t->s;
    server_job *j = t->job;
    gptoss_tokens out = {0};
    int rc = j->ops->run_tool(j, t->seq, &out);
    pthread_mutex_lock(&j->mu);
    server_seq *q = &j->seqs[t->seq];
    gptoss_tokens_free(&q->resume);
    q->resume = out;
    q->resume_failed = rc != 0;
    pthread_mutex_unlock(&j->mu);
    server_job_release(j);
    pthread_mutex_lock(&s->mu);
    if (s->slots[t->slot].tool_gen == t->gen) s->slots[t->slot].tool_done = 1; /* only park_slot changes gen */
    s->n_tool_threads--;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    free(t);
    return NULL;
}

/* Slot i's sequence asked for a tool with the token just fed: it waits while a thread runs the call. */
static void park_slot(server_sched *s, uint32_t i) {
    slot *sl = &s->slots[i];
    server_job *j = sl->job;
    j->seqs[sl->seq].tool = 0;
    tool_run *t = malloc(sizeof *t);
    pthread_attr_t attr;
    int attr_ok = pthread_attr_init(&attr) == 0;
    if (!t || !attr_ok) {
        free(t);
        if (attr_ok) pthread_attr_destroy(&attr);
        end_slot(s, i, SERVER_FINISH_ERROR, "cannot run the tool call");
        return;
    }
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&s->mu);
    sl->state = SLOT_TOOL;
    sl->tool_done = 0;
    *t = (tool_run){s, j, i, sl->seq, ++sl->tool_gen};
    s->n_tool_threads++;
    pthread_mutex_unlock(&s->mu);
    server_job_retain(j);
    pthread_t th;
    int rc = pthread_create(&th, &attr, tool_thread, t);
    pthread_attr_destroy(&attr);
    if (rc == 0) return;
    pthread_mutex_lock(&s->mu);
    s->n_tool_threads--;
    pthread_mutex_unlock(&s->mu);
    server_job_release(j);
    free(t);
    end_slot(s, i, SERVER_FINISH_ERROR, "cannot start a thread for the tool call");
}

/* A waiting slot whose call returned: the reply's tokens are appended (one engine append, as a
 * prefill chunk: a reply is a page view of about a thousand tokens) and the sequence decodes on. */
static void resume_slot(server_sched *s, uint32_t i) {
    server_engine *e = s->engine;
    slot *sl = &s->slots[i];
    server_job *j = sl->job;
    server_seq *q = &j->seqs[sl->seq];
    pthread_mutex_lock(&j->mu);
    gptoss_tokens r = q->resume;
    q->resume = (gptoss_tokens){0};
    int failed = q->resume_failed;
    pthread_mutex_unlock(&j->mu);
    char err[256] = "";
    if (failed) {
        end_slot(s, i, SERVER_FINISH_ERROR, "the tool call failed");
    } else if ((size_t)sl->n_ids + r.n + 1 > e->n_ctx) {
        end_slot(s, i, SERVER_FINISH_LENGTH, NULL); /* the reply does not fit the context */
    } else {
        double t0 = cli_now_s();
        int rc = e->append(e->ctx, i, r.ids, r.n, err, sizeof err);
        pthread_mutex_lock(&s->mu);
        s->prefill_seconds += cli_now_s() - t0;
        if (rc == 0) s->prompt_prefilled += r.n;
        pthread_mutex_unlock(&s->mu);
        if (rc != 0) end_slot(s, i, SERVER_FINISH_ERROR, err[0] ? err : "appending the tool's reply failed");
        else {
            memcpy(sl->ids + sl->n_ids, r.ids, r.n * sizeof *sl->ids);
            sl->n_ids += (uint32_t)r.n;
            pthread_mutex_lock(&j->mu);
            q->n_appended += (uint32_t)r.n;
            pthread_mutex_unlock(&j->mu);
            s->next_ready[i] = 0;
            sl->state = SLOT_DECODE;
        }
    }
    gptoss_tokens_free(&r);
}

/* Something to do besides waiting (scheduler's mu held): a slot prefilling or decoding, or one whose
 * tool call returned. */
static int runnable(const server_sched *s) {
    for (uint32_t i = 0; i < s->engine->n_slots; i++) {
        const slot *sl = &s->slots[i];
        if (sl->state == SLOT_PREFILL || sl->state == SLOT_DECODE || (sl->state == SLOT_TOOL && sl->tool_done))
            return 1;
    }
    return 0;
}

/* Shutting down (or a rank lost): every job ends, running or queued; on the scheduler thread.
 * wait_tools: let the tool threads finish first (they use s); not when the scheduler never
 * returns to free anything anyway. */
static void end_all(server_sched *s, int wait_tools) {
    pthread_mutex_lock(&s->mu);
    char why[sizeof s->lost_why];
    snprintf(why, sizeof why, "%s", s->lost ? s->lost_why : "the server is shutting down");
    pthread_mutex_unlock(&s->mu);
    for (uint32_t i = 0; i < s->engine->n_slots; i++)
        if (s->slots[i].state != SLOT_FREE) end_slot(s, i, SERVER_FINISH_ERROR, why);
    pthread_mutex_lock(&s->mu);
    while (wait_tools && s->n_tool_threads) pthread_cond_wait(&s->cond, &s->mu); /* their calls time out */
    while (s->q_len) {
        server_job *j = s->queue[s->q_head];
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_len--;
        pthread_mutex_unlock(&s->mu);
        finish_unadmitted(s, j, SERVER_FINISH_ERROR, why);
        pthread_mutex_lock(&s->mu);
    }
    s->exited = 1;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

static void *sched_thread(void *arg) {
    server_sched *s = arg;
    server_engine *e = s->engine;
    server_job *dropped[64];
    for (;;) {
        /* Admit queued jobs; wait when there is nothing to do. */
        pthread_mutex_lock(&s->mu);
        s->working = 0;
        for (;;) {
            size_t nd = sweep_queue(s, dropped, sizeof dropped / sizeof dropped[0]);
            if (nd) {
                pthread_mutex_unlock(&s->mu);
                for (size_t k = 0; k < nd; k++) finish_unadmitted(s, dropped[k], SERVER_FINISH_CANCELLED, NULL);
                pthread_mutex_lock(&s->mu);
                continue;
            }
            while (s->q_len && s->active < e->n_slots) {
                /* A job's sequences take slots one by one; it leaves the queue with its last. */
                server_job *j = s->queue[s->q_head];
                uint32_t i = pick_slot(s, j);
                if (j->n_admitted == 0) s->prompt_tokens += j->n_prompt; /* once per request */
                s->slots[i].state = SLOT_PREFILL;
                s->slots[i].job = j;
                s->slots[i].seq = j->n_admitted++;
                s->slots[i].n_fed = 0;
                s->slots[i].deciding = 1;
                s->slots[i].used = ++s->clock;
                if (j->n_admitted == j->n_seq) {
                    s->q_head = (s->q_head + 1) % s->q_cap;
                    s->q_len--;
                }
                s->active++;
            }
            if (s->stop || runnable(s)) break;
            pthread_cond_wait(&s->cond, &s->mu);
        }
        int stopping = s->stop;
        s->working = !stopping;
        pthread_mutex_unlock(&s->mu);
        if (stopping) break;

        /* Cancelled jobs leave at once. */
        for (uint32_t i = 0; i < e->n_slots; i++) {
            if (s->slots[i].state == SLOT_FREE || !job_cancelled(s->slots[i].job)) continue;
            end_slot(s, i, SERVER_FINISH_CANCELLED, NULL);
        }
        /* Tool calls that returned: their replies are appended. */
        for (uint32_t i = 0; i < e->n_slots; i++) {
            if (s->slots[i].state != SLOT_TOOL) continue;
            pthread_mutex_lock(&s->mu);
            int done = s->slots[i].tool_done;
            pthread_mutex_unlock(&s->mu);
            if (done) resume_slot(s, i);
        }
        /* Prefill: one chunk per slot and iteration, so running streams keep flowing. */
        for (uint32_t i = 0; i < e->n_slots; i++) {
            slot *sl = &s->slots[i];
            if (sl->state != SLOT_PREFILL) continue;
            server_job *j = sl->job;
            if (sl->deciding) {
                pthread_mutex_lock(&j->mu);
                j->started = 1;
                pthread_mutex_unlock(&j->mu);
                if (sibling_prefilling(s, i)) continue; /* it copies that prefill when done */
                choose_prefix(s, i);
            }
            size_t n = j->n_prompt - sl->n_fed;
            if (n > s->prefill_chunk) n = s->prefill_chunk;
            char err[256] = "";
            double t0 = cli_now_s();
            int rc = e->append(e->ctx, i, j->prompt + sl->n_fed, n, err, sizeof err);
            pthread_mutex_lock(&s->mu);
            s->prefill_seconds += cli_now_s() - t0;
            if (rc == 0) s->prompt_prefilled += n;
            pthread_mutex_unlock(&s->mu);
            if (rc != 0) {
                end_slot(s, i, SERVER_FINISH_ERROR, err[0] ? err : "prefill failed");
                continue;
            }
            memcpy(sl->ids + sl->n_ids, j->prompt + sl->n_fed, n * sizeof *sl->ids);
            sl->n_ids += (uint32_t)n;
            sl->n_fed += n;
            if (sl->n_fed == j->n_prompt) {
                sl->state = SLOT_DECODE;
                share_prefill(s, i);
            }
        }
        /* Decode: the constraints' masks of every decoding slot (most made during the last step),
         * then a sample for each, then one forward step for all that go on, with the next masks
         * computed beside it. */
        for (uint32_t i = 0; i < e->n_slots; i++)
            if (s->slots[i].state == SLOT_DECODE) constrain_slot(s, i);
        size_t n = 0;
        for (uint32_t i = 0; i < e->n_slots; i++) {
            if (s->slots[i].state != SLOT_DECODE) continue;
            uint32_t id;
            if (!sample_slot(s, i, &id)) continue;
            s->step_slots[n] = i;
            s->step_ids[n] = id;
            n++;
        }
        if (!n) continue;
        char err[256] = "";
        double t0 = cli_now_s();
        size_t n_masks = start_masks(s, n);
        int rc = e->step(e->ctx, s->step_slots, s->step_ids, n, err, sizeof err);
        double dt = cli_now_s() - t0;
        finish_masks(s, n_masks);
        if (rc != 0) {
            for (size_t k = 0; k < n; k++) {
                uint32_t i = s->step_slots[k];
                end_slot(s, i, SERVER_FINISH_ERROR, err[0] ? err : "decode failed");
            }
        } else {
            for (size_t k = 0; k < n; k++) {
                slot *sl = &s->slots[s->step_slots[k]];
                if (sl->n_ids < e->n_ctx) sl->ids[sl->n_ids++] = s->step_ids[k];
                /* the token fed was a tool call's last: the sequence waits for the call */
                if (sl->job->seqs[sl->seq].tool && sl->job->ops->run_tool) park_slot(s, s->step_slots[k]);
            }
        }
        pthread_mutex_lock(&s->mu);
        s->steps++;
        if (rc == 0) {
            s->decode_tokens += n;
            s->decode_seconds += dt;
        }
        pthread_mutex_unlock(&s->mu);
    }
    end_all(s, 1);
    return NULL;
}

int server_sched_start(server_sched **out, server_engine *engine, uint32_t queue_cap, uint32_t prefill_chunk,
                       char *err, size_t err_size) {
    *out = NULL;
    server_sched *s = calloc(1, sizeof *s);
    if (!s) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory"), -1;
    s->engine = engine;
    s->q_cap = queue_cap ? queue_cap : 1;
    s->prefill_chunk = prefill_chunk ? prefill_chunk : 256;
    s->queue = calloc(s->q_cap, sizeof *s->queue);
    s->slots = calloc(engine->n_slots, sizeof *s->slots);
    s->step_slots = calloc(engine->n_slots, sizeof *s->step_slots);
    s->step_ids = calloc(engine->n_slots, sizeof *s->step_ids);
    s->next = calloc(engine->n_slots, sizeof *s->next);
    s->next_ready = calloc(engine->n_slots, sizeof *s->next_ready);
    s->next_status = calloc(engine->n_slots, sizeof *s->next_status);
    s->mask_slots = calloc(engine->n_slots, sizeof *s->mask_slots);
    s->mask_states = calloc(engine->n_slots, sizeof *s->mask_states);
    s->mask_next = calloc(engine->n_slots, sizeof *s->mask_next);
    s->mask_status = calloc(engine->n_slots, sizeof *s->mask_status);
    int no_masks = !s->next_ready || !s->next_status || !s->mask_slots || !s->mask_states || !s->mask_next ||
                   !s->mask_status || gptoss_constraint_worker_create(NULL, &s->masks, NULL, 0) != GPTOSS_OK;
    int no_ids = !s->slots;
    for (uint32_t i = 0; s->slots && i < engine->n_slots; i++)
        if (!(s->slots[i].ids = malloc((size_t)(engine->n_ctx ? engine->n_ctx : 1) * sizeof *s->slots[i].ids)))
            no_ids = 1;
    s->t_start = cli_now_s();
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (!s->queue || no_ids || no_masks || !s->step_slots || !s->step_ids || !s->next ||
        pthread_create(&s->thread, NULL, sched_thread, s) != 0) {
        gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "cannot start the scheduler");
        server_sched_free(s);
        return -1;
    }
    s->started = 1;
    *out = s;
    return 0;
}

void server_sched_stop(server_sched *s) {
    if (!s || !s->started) return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->started = 0;
}

int server_sched_fail(server_sched *s, const char *why) {
    if (!s || !s->started) return 0;
    pthread_mutex_lock(&s->mu);
    if (!s->lost) snprintf(s->lost_why, sizeof s->lost_why, "%s", why ? why : "a rank of the model was lost");
    s->lost = 1;
    s->stop = 1;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    if (!pthread_equal(pthread_self(), s->thread)) return 0;
    end_all(s, 0); /* inside an engine call that cannot finish: the jobs end from here */
    return 1;
}

int server_sched_fail_stuck(server_sched *s, const char *why) {
    if (!s || !s->started) return 0;
    server_sched_fail(s, why);
    pthread_mutex_lock(&s->mu);
    const int ended = s->exited, working = s->working;
    pthread_mutex_unlock(&s->mu);
    if (ended || !working) return 0; /* idle or gone: the scheduler thread ends the jobs, or has */
    end_all(s, 0); /* its thread never comes back from the engine: nothing else touches the jobs */
    return 1;
}

int server_sched_lost(server_sched *s, char *why, size_t why_size) {
    if (!s) return 0;
    pthread_mutex_lock(&s->mu);
    int lost = s->lost;
    if (lost && why && why_size) snprintf(why, why_size, "%s", s->lost_why);
    pthread_mutex_unlock(&s->mu);
    return lost;
}

int server_sched_wait_ended(server_sched *s, double seconds) {
    if (!s || !s->started) return 1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)seconds;
    ts.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    while (!s->exited && rc == 0) rc = pthread_cond_timedwait(&s->cond, &s->mu, &ts);
    int ended = s->exited;
    pthread_mutex_unlock(&s->mu);
    return ended;
}

void server_sched_free(server_sched *s) {
    if (!s) return;
    server_sched_stop(s);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    free(s->queue);
    for (uint32_t i = 0; s->slots && i < s->engine->n_slots; i++) free(s->slots[i].ids);
    free(s->slots);
    free(s->step_slots);
    free(s->step_ids);
    free(s->next);
    gptoss_constraint_worker_free(s->masks);
    free(s->next_ready);
    free(s->next_status);
    free(s->mask_slots);
    free(s->mask_states);
    free(s->mask_next);
    free(s->mask_status);
    free(s);
}

#else
typedef int server_sched_unused;
#endif
