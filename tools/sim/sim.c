/*
 * tollgate-sim entry point: command-line options, the listening socket, signal handling and
 * orderly teardown. The simulator is one libevent loop serving OpenAI, Anthropic, Gemini and
 * Bedrock endpoints with deterministic answers and injectable faults; see docs/sim.md for the
 * contract. On SIGINT/SIGTERM it frees everything (including in-flight streams) and exits 0.
 */
#include "tools/sim/sim.h"

#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define SIM_DEFAULT_MODELS                                                                         \
    "gpt-4o,gpt-4o-mini,deepseek-chat,deepseek-reasoner,text-embedding-3-small"
#define SIM_DEFAULT_LISTEN "127.0.0.1:9090"
/* Long enough for any stall a test sets up; idle keep-alive connections close after it. */
#define SIM_CONN_TIMEOUT_S 600

static void sim_usage(FILE *out)
{
    fprintf(out, "usage: tollgate-sim [--listen HOST:PORT] [--api-key KEY] [--models a,b,c]\n"
                 "                    [--aws-access-key-id ID --aws-secret-access-key SECRET\n"
                 "                     [--aws-session-token TOKEN]]\n"
                 "                    [--fault MODEL:key=val,...]... [--quiet]\n"
                 "  --listen HOST:PORT  address to listen on (default " SIM_DEFAULT_LISTEN
                 "; port 0 = ephemeral)\n"
                 "  --api-key KEY       require KEY on API requests (Authorization: Bearer for\n"
                 "                      OpenAI, x-api-key for Anthropic, x-goog-api-key or\n"
                 "                      ?key= for Gemini, Authorization: Bearer for Bedrock)\n"
                 "  --aws-access-key-id ID, --aws-secret-access-key SECRET, --aws-session-token T\n"
                 "                      Bedrock: require requests signed with AWS SigV4 by them\n"
                 "  --models LIST       comma-separated ids for GET /v1/models\n"
                 "  --fault RULE        per-model fault rule, e.g. 'gpt-4o:status=500,count=3'\n"
                 "  --quiet             do not log requests to stderr\n"
                 "See docs/sim.md for fault keys and the /_sim control API.\n");
}

static int sim_parse_models(sim_t *sim, const char *list)
{
    char *copy = strdup(list);
    char *save = NULL;

    if (copy == NULL) {
        return -1;
    }
    for (size_t i = 0; i < sim->n_models; i++) {
        free(sim->models[i]);
    }
    sim->n_models = 0;
    for (char *m = strtok_r(copy, ",", &save); m != NULL; m = strtok_r(NULL, ",", &save)) {
        char **grown = realloc(sim->models, (sim->n_models + 1) * sizeof(*grown));

        if (grown == NULL) {
            goto fail;
        }
        sim->models = grown;
        if ((sim->models[sim->n_models] = strdup(m)) == NULL) {
            goto fail;
        }
        sim->n_models++;
    }
    free(copy);
    return 0;

fail:
    free(copy);
    return -1;
}

/* HOST:PORT, with [v6]:PORT for IPv6 literals. */
static int sim_parse_listen(sim_t *sim, const char *arg)
{
    const char *colon = strrchr(arg, ':');
    const char *host = arg;
    size_t hostlen;
    char *end;
    long port;

    if (colon == NULL) {
        return -1;
    }
    hostlen = (size_t)(colon - arg);
    if (hostlen >= 2 && arg[0] == '[' && arg[hostlen - 1] == ']') {
        host++;
        hostlen -= 2;
    }
    port = strtol(colon + 1, &end, 10);
    if (hostlen == 0 || end == colon + 1 || *end != '\0' || port < 0 || port > 65535) {
        return -1;
    }
    free(sim->host);
    if ((sim->host = strndup(host, hostlen)) == NULL) {
        return -1;
    }
    sim->port = (int)port;
    return 0;
}

static int sim_options(sim_t *sim, int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"api-key", required_argument, NULL, 'k'},
        {"models", required_argument, NULL, 'm'},
        {"fault", required_argument, NULL, 'f'},
        {"aws-access-key-id", required_argument, NULL, 1},
        {"aws-secret-access-key", required_argument, NULL, 2},
        {"aws-session-token", required_argument, NULL, 3},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char err[256];
    int c;

    if (sim_parse_listen(sim, SIM_DEFAULT_LISTEN) != 0 ||
        sim_parse_models(sim, SIM_DEFAULT_MODELS) != 0) {
        fprintf(stderr, "tollgate-sim: out of memory\n");
        return -1;
    }
    while ((c = getopt_long(argc, argv, "l:k:m:f:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (sim_parse_listen(sim, optarg) != 0) {
                fprintf(stderr, "tollgate-sim: bad --listen '%s': want HOST:PORT\n", optarg);
                return -1;
            }
            break;
        case 'k':
        case 1:
        case 2:
        case 3: {
            char **dst = c == 'k' ? &sim->api_key
                         : c == 1 ? &sim->aws_access_key_id
                         : c == 2 ? &sim->aws_secret_access_key
                                  : &sim->aws_session_token;

            free(*dst);
            if ((*dst = strdup(optarg)) == NULL) {
                fprintf(stderr, "tollgate-sim: out of memory\n");
                return -1;
            }
            break;
        }
        case 'm':
            if (sim_parse_models(sim, optarg) != 0) {
                fprintf(stderr, "tollgate-sim: out of memory\n");
                return -1;
            }
            break;
        case 'f':
            if (sim_fault_add_spec(sim, optarg, err, sizeof(err)) != 0) {
                fprintf(stderr, "tollgate-sim: %s\n", err);
                return -1;
            }
            break;
        case 'q':
            sim->quiet = true;
            break;
        case 'h':
            sim_usage(stdout);
            return 1;
        default:
            sim_usage(stderr);
            return -1;
        }
    }
    if ((sim->aws_access_key_id == NULL) != (sim->aws_secret_access_key == NULL)) {
        fprintf(stderr, "tollgate-sim: give both --aws-access-key-id and --aws-secret-access-key\n");
        return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "tollgate-sim: unexpected argument '%s'\n", argv[optind]);
        sim_usage(stderr);
        return -1;
    }
    return 0;
}

/* evsignal: SIGINT/SIGTERM end the loop; main() then frees everything. */
static void sim_on_signal(evutil_socket_t sig, short what, void *arg)
{
    sim_t *sim = arg;

    event_base_loopbreak(sim->base);
}

static int sim_listen(sim_t *sim)
{
    struct evhttp_bound_socket *bound;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    char port[16];
    int one = 1;
    int rc;

    bound = evhttp_bind_socket_with_handle(sim->http, sim->host, (ev_uint16_t)sim->port);
    if (bound == NULL) {
        fprintf(stderr, "tollgate-sim: cannot listen on %s:%d\n", sim->host, sim->port);
        return -1;
    }
    /* Accepted sockets inherit TCP_NODELAY from the listener on Linux. Without it the small
     * last chunk of a stream waits for the client's delayed ACK (~40 ms per response). */
    if (setsockopt(evhttp_bound_socket_get_fd(bound), IPPROTO_TCP, TCP_NODELAY, &one,
                   sizeof(one)) != 0) {
        perror("tollgate-sim: setsockopt(TCP_NODELAY)");
    }
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &sslen) != 0) {
        perror("tollgate-sim: getsockname()");
        return -1;
    }
    rc = getnameinfo((struct sockaddr *)&ss, sslen, NULL, 0, port, sizeof(port), NI_NUMERICSERV);
    if (rc != 0) {
        fprintf(stderr, "tollgate-sim: getnameinfo() failed: %s\n", gai_strerror(rc));
        return -1;
    }
    sim->port = atoi(port);
    if (strchr(sim->host, ':') != NULL) {
        printf("tollgate-sim listening on [%s]:%d\n", sim->host, sim->port);
    } else {
        printf("tollgate-sim listening on %s:%d\n", sim->host, sim->port);
    }
    fflush(stdout);
    return 0;
}

static int sim_start(sim_t *sim)
{
    struct event_config *cfg = event_config_new();

    json_object_seed(1); /* deterministic key order in /_sim/stats across runs */
    /* The default coarse monotonic clock ticks in milliseconds-long jiffies, which would make
     * latency_ms and ttft_ms fire a few milliseconds early. */
    if (cfg != NULL && event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER) == 0) {
        sim->base = event_base_new_with_config(cfg);
    }
    if (cfg != NULL) {
        event_config_free(cfg);
    }
    if (sim->base == NULL || (sim->stats.by_model = json_object()) == NULL ||
        (sim->http = evhttp_new(sim->base)) == NULL) {
        fprintf(stderr, "tollgate-sim: cannot create the event loop\n");
        return -1;
    }
    evhttp_set_allowed_methods(sim->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                              EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_timeout(sim->http, SIM_CONN_TIMEOUT_S);
    evhttp_set_gencb(sim->http, sim_http_dispatch, sim);
    sim->sig_int = evsignal_new(sim->base, SIGINT, sim_on_signal, sim);
    sim->sig_term = evsignal_new(sim->base, SIGTERM, sim_on_signal, sim);
    if (sim->sig_int == NULL || sim->sig_term == NULL || evsignal_add(sim->sig_int, NULL) != 0 ||
        evsignal_add(sim->sig_term, NULL) != 0) {
        fprintf(stderr, "tollgate-sim: cannot install signal handlers\n");
        return -1;
    }
    return sim_listen(sim);
}

static void sim_free(sim_t *sim)
{
    /* evhttp_free closes every connection; each in-flight job is freed by its close
     * callback, and sim_reply_shutdown catches any that had no live connection. */
    if (sim->http != NULL) {
        evhttp_free(sim->http);
    }
    sim_reply_shutdown(sim);
    if (sim->sig_int != NULL) {
        event_free(sim->sig_int);
    }
    if (sim->sig_term != NULL) {
        event_free(sim->sig_term);
    }
    if (sim->base != NULL) {
        event_base_free(sim->base);
    }
    sim_fault_clear(sim);
    sim_stats_clear(&sim->stats);
    json_decref(sim->stats.by_model);
    for (size_t i = 0; i < sim->n_models; i++) {
        free(sim->models[i]);
    }
    free(sim->models);
    free(sim->host);
    free(sim->api_key);
    free(sim->aws_access_key_id);
    free(sim->aws_secret_access_key);
    free(sim->aws_session_token);
}

int main(int argc, char **argv)
{
    sim_t sim = {0};
    int rc;

    signal(SIGPIPE, SIG_IGN);
    rc = sim_options(&sim, argc, argv);
    if (rc != 0) {
        sim_free(&sim);
        return rc > 0 ? 0 : 2;
    }
    if (sim_start(&sim) != 0) {
        sim_free(&sim);
        return 1;
    }
    if (event_base_dispatch(sim.base) < 0) {
        fprintf(stderr, "tollgate-sim: event_base_dispatch() failed\n");
        sim_free(&sim);
        return 1;
    }
    sim_free(&sim);
    libevent_global_shutdown();
    return 0;
}
