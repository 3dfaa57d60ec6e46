/*
** rcu.c -- what lock-free reads need from each thread: its registration with
** liburcu and its counter slot; and the grace periods writers wait for.
**
** liburcu's memb flavour requires every thread that enters a read-side
** critical section to register first, and to unregister before it exits.
** The cache's callers are the application's threads, so a thread registers
** on its first read from any cache, and a thread-specific key's destructor
** unregisters it when it exits. The same setup hands the thread one of
** HC_THREAD_SLOTS counter slots (hc_int.h), given back at exit for a later
** thread to continue. Waiting for a grace period needs no registration.
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

void hc__synchronize(void)
{
    pthread_once(&once, init_once);
    urcu_memb_synchronize_rcu();
    HC_TSAN_ACQUIRE();
}
