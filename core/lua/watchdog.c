#include "lua/watchdog.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "lua/sandbox.h"
#include "util/clock.h"
#include "util/strbuf.h"
#include "util/thread_name.h"

#if WATCHDOG_SIGNALS

/* How often the watchdog looks: every quarter of the default deadline
 * after it saw a call running, ten times less often after it saw none, so
 * an idle herald is not woken forty times a second. A call past its
 * deadline is signalled at the next look: at most IDLE_LOOKS_NS (250 ms
 * with the default deadline) after it. */
#define BUSY_LOOKS_NS ((int64_t)SANDBOX_DEFAULT_TIMEOUT_MS * 1000000 / 4)
#define IDLE_LOOKS_NS (10 * BUSY_LOOKS_NS)

/* A thread that has run a Lua call. */
typedef struct lua_thread {
    struct lua_thread *next;
    pthread_t thread;
    atomic_llong deadline_ns; /* of the call running; 0: none */
    atomic_llong signalled;   /* the deadline it was signalled for */
} lua_thread;

static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;
static lua_thread *threads;
static atomic_bool stopping;
static pthread_once_t started = PTHREAD_ONCE_INIT;
static pthread_key_t thread_key;

static _Thread_local lua_thread *this_thread;
/* The state whose call runs on this thread and the hook it gets past its
 * deadline, for the signal handler. */
static _Thread_local lua_State *volatile running_here;
static _Thread_local lua_Hook volatile running_hook;

static void interrupt(int sig)
{
    (void)sig;
    lua_State *L = running_here;
    if (L)
        lua_sethook(L, running_hook, LUA_MASKCOUNT, 1);
}

static void *watch(void *arg)
{
    (void)arg;
    thread_name("lua-watchdog");
    for (;;) {
        bool busy = false;
        pthread_mutex_lock(&threads_lock);
        int64_t now = mono_ns();
        bool stop = atomic_load(&stopping);
        for (lua_thread *t = threads; t; t = t->next) {
            long long deadline = atomic_load_explicit(&t->deadline_ns, memory_order_relaxed);
            busy = busy || deadline;
            /* Once per call: a signal that comes as its call ends finds
             * the next call within its deadline, and the hook goes. */
            if (deadline && (now >= deadline || stop) &&
                atomic_exchange(&t->signalled, deadline) != deadline)
                pthread_kill(t->thread, SIGRTMIN);
        }
        pthread_mutex_unlock(&threads_lock);
        int64_t pause = busy ? BUSY_LOOKS_NS : IDLE_LOOKS_NS;
        nanosleep(&(struct timespec){pause / 1000000000, pause % 1000000000}, NULL);
    }
    return NULL;
}

/* A thread's record goes with it, under the lock, so the watchdog never
 * signals a thread that has ended. */
static void forget_thread(void *record)
{
    pthread_mutex_lock(&threads_lock);
    for (lua_thread **at = &threads; *at; at = &(*at)->next)
        if (*at == record) {
            *at = ((lua_thread *)record)->next;
            break;
        }
    pthread_mutex_unlock(&threads_lock);
    free(record);
}

static void start(void)
{
    struct sigaction action = {.sa_handler = interrupt, .sa_flags = SA_RESTART};
    sigemptyset(&action.sa_mask);
    pthread_t watcher;
    pthread_attr_t attr;
    if (sigaction(SIGRTMIN, &action, NULL) != 0 || pthread_key_create(&thread_key, forget_thread) ||
        pthread_attr_init(&attr) ||
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) ||
        pthread_create(&watcher, &attr, watch, NULL))
        abort(); /* no deadline could be kept */
    pthread_attr_destroy(&attr);
}

void watchdog_call_begins(lua_State *L, lua_Hook hook, int64_t deadline_ns,
                          watchdog_call *outer)
{
    if (!this_thread) {
        pthread_once(&started, start);
        lua_thread *t = xcalloc(1, sizeof *t);
        t->thread = pthread_self();
        pthread_mutex_lock(&threads_lock);
        t->next = threads;
        threads = t;
        pthread_mutex_unlock(&threads_lock);
        pthread_setspecific(thread_key, t);
        this_thread = t;
    }
    *outer = (watchdog_call){running_here, running_hook,
                             atomic_load_explicit(&this_thread->deadline_ns, memory_order_relaxed)};
    /* the hook first: the handler reads it once it sees L */
    running_hook = hook;
    running_here = L;
    atomic_store_explicit(&this_thread->deadline_ns, deadline_ns, memory_order_relaxed);
}

void watchdog_call_ends(const watchdog_call *outer)
{
    atomic_store_explicit(&this_thread->deadline_ns, outer->deadline_ns, memory_order_relaxed);
    running_here = outer->L;
    running_hook = outer->hook;
}

void watchdog_stop_all(void) { atomic_store(&stopping, true); }

#else

void watchdog_call_begins(lua_State *L, lua_Hook hook, int64_t deadline_ns,
                          watchdog_call *outer)
{
    (void)L;
    (void)hook;
    (void)deadline_ns;
    (void)outer;
}
void watchdog_call_ends(const watchdog_call *outer) { (void)outer; }
void watchdog_stop_all(void) {}

#endif
