/*
 * What routing a request costs before any I/O: read the route facts from the body (the work of
 * worker/route.c tg_routing_begin: task, complexity, capabilities, the estimator) and decide
 * the targets, in a loop over a few typical bodies. Run it in an optimised build; under
 * `valgrind --tool=callgrind` it gives instructions per request (inclusive Ir of
 * tg_bench_route / (5 N)); BODY picks one body (1, 2 or 3) for that.
 *
 *   tollgate-bench-route [CONFIG [ROUTE [N [BODY]]]]    defaults: etc/demo.yaml auto 200000 all
 *
 * docs/routing.md ("Cost of routing") quotes its output.
 */
#include "shared/tg_config.h"
#include "shared/tg_route.h"
#include "shared/tg_route_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *name;
    const char *body;
} tg_bench_body_t;

/* The body bench/run's callgrind scenario sends; a support question; a tool-using chat. */
static const tg_bench_body_t tg_bodies[] = {
    {"hello (bench/run)",
     "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello\"}]}"},
    {"support question",
     "{\"model\":\"auto\",\"messages\":[{\"role\":\"system\",\"content\":\"You are the support "
     "assistant of an online shop. Answer briefly and politely.\"},{\"role\":\"user\","
     "\"content\":\"I ordered running shoes on Tuesday and tracking still says the parcel is "
     "at the depot. When will it arrive?\"}],\"user\":\"customer-4711\",\"max_tokens\":300}"},
    {"chat with tools",
     "{\"model\":\"auto\",\"metadata\":{\"task\":\"code_review\"},\"messages\":["
     "{\"role\":\"system\",\"content\":\"You review pull requests.\\nBe specific.\"},"
     "{\"role\":\"user\",\"content\":\"Here is the diff:\\n```c\\nint f(int x) {\\n    return "
     "x * 2;\\n}\\n```\\nIs it correct?\"},"
     "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":"
     "\"function\",\"function\":{\"name\":\"run_tests\",\"arguments\":\"{\\\"suite\\\":"
     "\\\"unit\\\"}\"}}]},"
     "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"12 passed, 0 failed\"},"
     "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Tests pass. Now explain "
     "step by step why the overflow check is missing, and prove the fix is correct \\u2014 in "
     "at most 200 words.\"}]}],"
     "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"run_tests\",\"parameters\":{"
     "\"type\":\"object\",\"properties\":{\"suite\":{\"type\":\"string\"}}}}}],"
     "\"response_format\":{\"type\":\"json_object\"},\"max_completion_tokens\":800}"},
};

static double tg_now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * One routed request, as tg_routing_begin does it (without the worker's key and health). Not
 * inlined, so callgrind reports it as one function.
 */
__attribute__((noinline)) static const char *tg_bench_route(const tg_route_t *rt, const char *body,
                                                            size_t len)
{
    tg_route_req_t q;
    tg_route_input_t in;
    tg_route_plan_t plan;

    tg_route_req_read(body, len, NULL, NULL, NULL, &q);
    tg_route_req_input(&q, q.user, &in);
    tg_route_decide(rt, &in, &plan);
    return plan.n > 0 ? plan.order[0]->name : "(none)";
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "etc/demo.yaml", *name = argc > 2 ? argv[2] : "auto";
    long n = argc > 3 ? atol(argv[3]) : 200000, only = argc > 4 ? atol(argv[4]) : 0;
    char err[512];
    tg_config_t *cf;
    const tg_route_t *rt;

    if (n < 1 || (cf = tg_config_load_file(path, err, sizeof(err))) == NULL) {
        fprintf(stderr, "usage: tollgate-bench-route [CONFIG [ROUTE [N [BODY]]]] (%s)\n",
                n < 1 ? "N must be positive" : err);
        return 2;
    }
    if ((rt = tg_config_route(cf, name, strlen(name))) == NULL) {
        fprintf(stderr, "%s: no route \"%s\"\n", path, name);
        tg_config_unref(cf);
        return 2;
    }
    printf("route %s, %ld requests per body, best of 5 runs\n", name, n);
    for (size_t b = 0; b < sizeof(tg_bodies) / sizeof(tg_bodies[0]); b++) {
        const char *body = tg_bodies[b].body, *first = NULL;
        size_t len = strlen(body);
        double best = 0;

        if (only != 0 && only != (long)b + 1)
            continue;
        for (int run = 0; run < 5; run++) {
            double t0 = tg_now_s(), t;

            for (long i = 0; i < n; i++)
                first = tg_bench_route(rt, body, len);
            t = tg_now_s() - t0;
            if (run == 0 || t < best)
                best = t;
        }
        printf("%-18s %5zu bytes  %6.3f us per request  (first target %s)\n", tg_bodies[b].name,
               len, best / (double)n * 1e6, first);
    }
    tg_config_unref(cf);
    return 0;
}
