/*
 * tollgate-route-eval: evaluates the prompt complexity estimator offline on labelled CSV
 * files (prompt, weak correct, strong correct, ...), as RouteLLM evaluates routers, against a
 * random router. See docs/routing.md for the data, the metrics and the measured numbers.
 */
#include "tools/route_eval/route_eval.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RE_DEFAULT_BINS 10 /* RouteLLM's --num-results */
#define RE_DEFAULT_RUNS 200
#define RE_DEFAULT_SEED 1

static void re_usage(FILE *out)
{
    fprintf(out,
            "usage: tollgate-route-eval [options] FILE.csv...\n"
            "  FILE.csv: header, then prompt, weak correct, strong correct (True/False), ...\n"
            "  --bins N          quantile thresholds of the curve (default %d, as RouteLLM);\n"
            "                    0 = the exact curve, one point per distinct score\n"
            "  --random-runs N   orderings averaged for the random router (default %d)\n"
            "  --seed N          seed of the random router (default %d)\n"
            "  --summary         only the combined row\n"
            "  --json            results as JSON instead of the table\n"
            "  --features        per-prompt feature values (TSV) instead of metrics\n"
            "  --fit             cross-validate weights fitted by ridge least squares:\n"
            "                    each file is scored by a fit on all the others\n"
            "  --fold-by-prefix  with --fit: files sharing the name part before '_' form\n"
            "                    one fold (mmlu_*.csv), so whole datasets are held out\n"
            "The last line of the table output is \"APGR <estimator> random <random>\".\n",
            RE_DEFAULT_BINS, RE_DEFAULT_RUNS, RE_DEFAULT_SEED);
}

static int re_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;

    if (s[0] < '0' || s[0] > '9') {
        return -1;
    }
    errno = 0;
    *out = strtoul(s, &end, 10);
    return *end == '\0' && errno == 0 && *out <= max ? 0 : -1;
}

/* Returns 0 to run, 1 to exit successfully (--help), -1 on a usage error. */
static int re_options(re_t *re, int argc, char **argv)
{
    static const struct option opts[] = {
        {"bins", required_argument, NULL, 'b'}, {"random-runs", required_argument, NULL, 'r'},
        {"seed", required_argument, NULL, 's'}, {"summary", no_argument, NULL, 'S'},
        {"json", no_argument, NULL, 'j'},       {"features", no_argument, NULL, 'F'},
        {"fit", no_argument, NULL, 'f'},        {"fold-by-prefix", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    unsigned long v;
    int c;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
        case 'r':
            if (re_uint(optarg, 100000, &v) != 0 || (c == 'r' && v == 0)) {
                fprintf(stderr, "tollgate-route-eval: bad --%s \"%s\"\n",
                        c == 'b' ? "bins" : "random-runs", optarg);
                return -1;
            }
            *(c == 'b' ? &re->bins : &re->random_runs) = (unsigned)v;
            break;
        case 's':
            if (re_uint(optarg, ULONG_MAX, &v) != 0) {
                fprintf(stderr, "tollgate-route-eval: bad --seed \"%s\"\n", optarg);
                return -1;
            }
            re->seed = v;
            break;
        case 'S':
            re->summary = 1;
            break;
        case 'j':
            re->json = 1;
            break;
        case 'F':
            re->features = 1;
            break;
        case 'f':
            re->fit = 1;
            break;
        case 'p':
            re->fold_by_prefix = 1;
            break;
        case 'h':
            re_usage(stdout);
            return 1;
        default:
            re_usage(stderr);
            return -1;
        }
    }
    if (optind == argc) {
        re_usage(stderr);
        return -1;
    }
    return 0;
}

static int re_files(re_t *re, int argc, char **argv)
{
    re->nfiles = (size_t)(argc - optind);
    re->files = calloc(re->nfiles, sizeof(*re->files));
    if (re->files == NULL) {
        fprintf(stderr, "tollgate-route-eval: out of memory\n");
        return -1;
    }
    for (size_t i = 0; i < re->nfiles; i++) {
        const char *path = argv[optind + (int)i], *slash = strrchr(path, '/');

        re->files[i].path = path;
        re->files[i].name = slash != NULL ? slash + 1 : path;
    }
    return 0;
}

static void re_free(re_t *re)
{
    for (size_t i = 0; i < re->nfiles; i++) {
        free(re->files[i].data);
    }
    free(re->files);
    free(re->rows);
    free(re->items);
    free(re->pts);
}

int main(int argc, char **argv)
{
    re_t re = {.bins = RE_DEFAULT_BINS, .random_runs = RE_DEFAULT_RUNS, .seed = RE_DEFAULT_SEED};
    int rc;

    rc = re_options(&re, argc, argv);
    if (rc != 0) {
        return rc > 0 ? 0 : 2;
    }
    rc = 1;
    if (re_files(&re, argc, argv) != 0 || re_load(&re) != 0) {
        goto done;
    }
    re_score(&re);
    if (re.features) {
        re_print_features(&re);
        rc = 0;
    } else if (re.fit) {
        rc = re_fit(&re) == 0 ? 0 : 1;
    } else {
        rc = re_report(&re) == 0 ? 0 : 1;
    }
    if (fflush(stdout) != 0) {
        perror("tollgate-route-eval: stdout");
        rc = 1;
    }

done:
    re_free(&re);
    return rc;
}
