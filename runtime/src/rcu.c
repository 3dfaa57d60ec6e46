/*
** rcu.c -- what lock-free reads need from each thread: its registration with
** liburcu, its counter slot, and the deferred frees that make unlocked reads
** safe.
**
** liburcu's memb flavour requires every thread that enters a read-side
** critical section or calls call_rcu() to register first, and to unregister
** before it exits. The cache's callers are the application's threads, so a
** thread registers on its first call into any cache, and a thread-specific
** key's destructor unregisters it when it exits. The same setup hands the
** thread one of HC_THREAD_SLOTS counter slots (hc_int.h), given back at
** exit for a later thread to continue.
*/
#include "hc_int.h"

_Thread_local hc__thread hc__self HC_TLS_IE;

#ifdef HC_TSAN
char hc__rcu_sync;                  /* only its address matters */
#endif

static pthread_once_t  once = PTHREAD_ONCE_INIT;
static pthread_key_t   exit_key;
static bool            have_key;
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t        slots_used;  /* bit i: slot i has a live thread */

_Static_assert(HC_THREAD_SLOTS <= 64, "slots_used has 64 bits");

/* The key's destructor: the thread is exiting. */
static void thread_exit(void *arg)
{
    HC_UNUSED(arg);
    if (hc__self.rcu) urcu_memb_unregister_thread();
    if (hc__self.slot < HC_THREAD_SLOTS) {
        pthread_mutex_lock(&slots_lock);
        slots_used &= ~((uint64_t)1 << hc__self.slot);
        pthread_mutex_unlock(&slots_lock);
    }
    hc__self.ready = hc__self.rcu = false;
    hc__self.slot = HC_THREAD_SLOTS;
}

static void init_once(void)
{
    urcu_memb_init();
    have_key = pthread_key_create(&exit_key, thread_exit) == 0;
}

void hc__thread_setup(void)
{
    pthread_once(&once, init_once);
    hc__self.slot = HC_THREAD_SLOTS;        /* the shared slot */
    hc__self.rcu = false;
    /* Without the destructor the thread could not unregister at exit, which
       liburcu requires: such a thread stays off the lock-free path. */
    if (have_key && pthread_setspecific(exit_key, &hc__self) == 0) {
        pthread_mutex_lock(&slots_lock);
        for (unsigned i = 0; i < HC_THREAD_SLOTS; i++) {
            if (!(slots_used & ((uint64_t)1 << i))) {
                slots_used |= (uint64_t)1 << i;
                hc__self.slot = i;
                break;
            }
        }
        pthread_mutex_unlock(&slots_lock);
        urcu_memb_register_thread();
        hc__self.rcu = true;
    }
    hc__self.ready = true;
}

void hc__defer(hc_cache *c, struct rcu_head *head, void (*fn)(struct rcu_head *))
{
    const hc__thread *t = hc__thread_get();
    atomic_fetch_add_explicit(&c->pending, 1, memory_order_relaxed);
    HC_TSAN_RELEASE();
    if (t->rcu) {
        urcu_memb_call_rcu(head, fn);
    } else {
        urcu_memb_synchronize_rcu();
        fn(head);
    }
}

/*
** A deferred call has ended. The count drops under the lock, so that
** hc__defer_wait cannot see it reach zero, return and let the cache be
** freed before this thread is done with the lock. (rcu_barrier() would
** wait too, but for every cache's callbacks, and ThreadSanitizer cannot
** see through it.)
*/
void hc__defer_done(hc_cache *c)
{
    pthread_mutex_lock(&c->defer_lock);
    if (atomic_fetch_sub_explicit(&c->pending, 1, memory_order_relaxed) == 1)
        pthread_cond_broadcast(&c->defer_cv);
    pthread_mutex_unlock(&c->defer_lock);
}

void hc__defer_wait(hc_cache *c)
{
    pthread_mutex_lock(&c->defer_lock);
    while (atomic_load_explicit(&c->pending, memory_order_relaxed) != 0)
        pthread_cond_wait(&c->defer_cv, &c->defer_lock);
    pthread_mutex_unlock(&c->defer_lock);
}
