/*
** rcu.c -- read-copy-update for lock-free hits: what each thread needs to
** read (its registration and its counter slot), and the grace periods
** writers wait for before they free what readers may still see.
**
** The algorithm is the "memb" flavour of userspace RCU (Desnoyers et al.,
** "User-Level Implementations of Read-Copy Update", IEEE TPDS 2012), as
** liburcu implements it. The library used liburcu itself until its
** read-side calls measured a quarter of a hit's instructions: they are
** calls into liburcu-memb.so, each reaching the thread's state through
** __tls_get_addr, and liburcu's inline versions may only be compiled into
** LGPL-compatible code. Here the read side is two inline stores to the
** thread's own hc__thread, which the initial-exec TLS model reaches with
** one load from the thread pointer (hc_int.h).
**
** Readers. hc__read_begin stores the current grace-period counter
** hc__rcu_gp into the thread's rcu_ctr; hc__read_end stores 0 with release
** order. Neither fences nor writes anything shared.
**
** Writers. A writer unlinks what it will free, then calls hc__synchronize,
** which (1) runs membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), (2) adds 1
** to hc__rcu_gp, giving gp, and (3) waits until every registered reader's
** rcu_ctr is 0 or at least gp. Why that is enough: membarrier makes every
** thread of the process execute a full barrier at some point F during the
** call. A reader whose entering store came before F has it visible to
** step 3 with a value below gp, so the writer waits for its section to
** end. A reader whose entering store came after F does its section's loads
** after F, so after the unlink: it cannot reach what was unlinked. A
** reader whose rcu_ctr is at least gp read hc__rcu_gp after step 2 (an
** acquire of the release in step 2), which came after the unlink. The
** release store of 0 in hc__read_end and the acquire load in step 3 order
** the reader's accesses before the free.
**
** Without membarrier (a kernel older than 4.14, or a seccomp filter that
** refuses it), readers fence after their entering store and step 1 is a
** fence: Dekker's pattern, the same guarantee at the cost of a fence per
** hit. The choice is made once, before any thread can read.
**
** Grace periods are rare (one per DEFER_BATCH frees, cache.c), so step 3
** polls: it yields, then sleeps, while a reader is inside its section.
*/
#define _GNU_SOURCE                 /* syscall() */
#include <errno.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#ifdef __linux__
#  include <linux/membarrier.h>
#endif

#include "hc_int.h"

_Thread_local hc__thread hc__self HC_TLS_IE;
_Atomic uint64_t hc__rcu_gp = 1;
atomic_bool hc__rcu_fences;

#ifdef HC_TSAN
char hc__rcu_sync;                  /* only its address matters */
#endif

static pthread_once_t  once = PTHREAD_ONCE_INIT;
static pthread_key_t   exit_key;
static bool            have_key;
static bool            have_membarrier;
/* Guards the list of readers and the slots, and serializes grace periods. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static hc__thread     *readers;
static uint64_t        slots_used;  /* bit i: slot i has a live thread */

_Static_assert(HC_THREAD_SLOTS <= 64, "slots_used has 64 bits");

#if defined(__linux__) && defined(SYS_membarrier)
static int membarrier(int cmd)
{
    return (int)syscall(SYS_membarrier, cmd, 0, 0);
}

static bool membarrier_setup(void)
{
    int cmds = membarrier(MEMBARRIER_CMD_QUERY);
    return cmds >= 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
           membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}
#else
static int membarrier(int cmd) { HC_UNUSED(cmd); errno = ENOSYS; return -1; }
static bool membarrier_setup(void) { return false; }
#endif

void hc__rcu_full_fence(void)
{
#ifdef HC_TSAN
    /* TSan does not support atomic_thread_fence; a sequentially consistent
       read-modify-write is a full barrier on every target TSan runs on. */
    static atomic_uint dummy;
    atomic_fetch_add_explicit(&dummy, 1, memory_order_seq_cst);
#else
    atomic_thread_fence(memory_order_seq_cst);
#endif
}

/* A full barrier on every thread of the process (step 1). */
static void barrier_all(void)
{
    if (atomic_load_explicit(&hc__rcu_fences, memory_order_relaxed) ||
        membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0)
        hc__rcu_full_fence();
}

static void unlink_reader(hc__thread *t)
{
    if (t->rcu_prev) t->rcu_prev->rcu_next = t->rcu_next;
    else readers = t->rcu_next;
    if (t->rcu_next) t->rcu_next->rcu_prev = t->rcu_prev;
    t->rcu_prev = t->rcu_next = NULL;
}

/* The key's destructor: the thread is exiting. */
static void thread_exit(void *arg)
{
    HC_UNUSED(arg);
    pthread_mutex_lock(&lock);
    if (hc__self.rcu) unlink_reader(&hc__self);
    if (hc__self.slot < HC_THREAD_SLOTS) slots_used &= ~((uint64_t)1 << hc__self.slot);
    pthread_mutex_unlock(&lock);
    hc__self.ready = hc__self.rcu = false;
    hc__self.slot = HC_THREAD_SLOTS;
}

/* In a child after fork() only the forking thread exists: the others'
   records would hold grace periods (and slots) forever. */
static void after_fork_child(void)
{
    readers = NULL;
    slots_used = 0;
    if (hc__self.rcu) {
        hc__self.rcu_prev = hc__self.rcu_next = NULL;
        readers = &hc__self;
    }
    if (hc__self.slot < HC_THREAD_SLOTS) slots_used = (uint64_t)1 << hc__self.slot;
    pthread_mutex_unlock(&lock);    /* taken by before_fork */
}

static void before_fork(void) { pthread_mutex_lock(&lock); }
static void after_fork_parent(void) { pthread_mutex_unlock(&lock); }

static void init_once(void)
{
    have_key = pthread_key_create(&exit_key, thread_exit) == 0;
    have_membarrier = membarrier_setup();
    if (!have_membarrier) atomic_store(&hc__rcu_fences, true);
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

void hc__thread_setup(void)
{
    pthread_once(&once, init_once);
    hc__self.slot = HC_THREAD_SLOTS;        /* the shared slot */
    hc__self.rcu = false;
    hc__self.rcu_nest = 0;
    atomic_store_explicit(&hc__self.rcu_ctr, 0, memory_order_relaxed);
    /* Without the destructor the thread could not leave the list of readers
       at exit: such a thread stays off the lock-free path. */
    if (have_key && pthread_setspecific(exit_key, &hc__self) == 0) {
        pthread_mutex_lock(&lock);
        for (unsigned i = 0; i < HC_THREAD_SLOTS; i++) {
            if (!(slots_used & ((uint64_t)1 << i))) {
                slots_used |= (uint64_t)1 << i;
                hc__self.slot = i;
                break;
            }
        }
        hc__self.rcu_prev = NULL;
        hc__self.rcu_next = readers;
        if (readers) readers->rcu_prev = &hc__self;
        readers = &hc__self;
        hc__self.rcu = true;
        pthread_mutex_unlock(&lock);
    }
    hc__self.ready = true;
}

/* Wait a little longer each time a reader is still inside its section. */
static void backoff(unsigned *tries)
{
    if (++*tries < 100) {
        sched_yield();
    } else {
        struct timespec ts = {0, *tries < 1000 ? 10000L : 1000000L};
        nanosleep(&ts, NULL);
    }
}

void hc__synchronize(void)
{
    pthread_once(&once, init_once);
    pthread_mutex_lock(&lock);
    barrier_all();
    uint64_t gp = atomic_load_explicit(&hc__rcu_gp, memory_order_relaxed) + 1;
    atomic_store_explicit(&hc__rcu_gp, gp, memory_order_release);
    for (hc__thread *r = readers; r; r = r->rcu_next) {
        unsigned tries = 0;
        for (;;) {
            uint64_t v = atomic_load_explicit(&r->rcu_ctr, memory_order_acquire);
            if (v == 0 || v >= gp) break;
            backoff(&tries);
        }
    }
    pthread_mutex_unlock(&lock);
    HC_TSAN_ACQUIRE();
}

/* For tests: run readers with fences instead of membarrier (or back, if
   the kernel has it). Only while no thread is inside a read-side section
   or a grace period. */
void hc__rcu_use_fences(bool on)
{
    pthread_once(&once, init_once);
    atomic_store(&hc__rcu_fences, on || !have_membarrier);
}
