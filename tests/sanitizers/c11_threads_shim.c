// LD_PRELOAD shim for the ThreadSanitizer run of the Kafka tests (scripts/sanitize.sh): librdkafka
// starts its threads with C11 thrd_create, which the TSan runtimes of clang 14 and gcc 12 do not
// intercept, so those threads have no TSan state and crash at their first malloc. Routing
// thrd_create, thrd_join, thrd_detach and thrd_exit through their pthread counterparts (which TSan
// intercepts) keeps TSan's thread registry right. A C11 thread's int result travels as a
// pointer-sized value, as in glibc.
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

struct start {
  thrd_start_t func;
  void* arg;
};

static void* trampoline(void* p) {
  struct start s = *(struct start*)p;
  free(p);
  return (void*)(intptr_t)s.func(s.arg);
}

int thrd_create(thrd_t* thr, thrd_start_t func, void* arg) {
  struct start* s = malloc(sizeof *s);
  if (s == NULL) return thrd_nomem;
  s->func = func;
  s->arg = arg;
  const int rc = pthread_create(thr, NULL, trampoline, s);
  if (rc != 0) {
    free(s);
    return rc == EAGAIN ? thrd_nomem : thrd_error;
  }
  return thrd_success;
}

int thrd_join(thrd_t thr, int* res) {
  void* result = NULL;
  if (pthread_join(thr, &result) != 0) return thrd_error;
  if (res != NULL) *res = (int)(intptr_t)result;
  return thrd_success;
}

int thrd_detach(thrd_t thr) { return pthread_detach(thr) == 0 ? thrd_success : thrd_error; }

_Noreturn void thrd_exit(int res) { pthread_exit((void*)(intptr_t)res); }
