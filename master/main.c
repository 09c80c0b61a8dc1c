/*
 * tollgate: command line entry point. Loads and validates the configuration, then hands over
 * to the master process loop (master.c). "-t" only tests the configuration.
 */
#include "master/master.h"
#include "shared/tg_log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void tg_usage(FILE *out)
{
    fprintf(out, "usage: tollgate [-t] [-c FILE] [-V] [-h]\n"
                 "  -c FILE  configuration file (default: etc/tollgate.yaml)\n"
                 "  -t       test the configuration and exit (0: valid, 1: invalid)\n"
                 "  -V       print the version and exit\n"
                 "  -h       this help\n"
                 "signals: HUP reload, TERM/INT/QUIT graceful shutdown, USR1 reopen logs\n");
}

int main(int argc, char **argv)
{
    const char *path = "etc/tollgate.yaml";
    char err[TG_CONFIG_ERR_MAX];
    tg_config_t *cf;
    int test = 0, ch;

    while ((ch = getopt(argc, argv, "c:tVh")) != -1) {
        switch (ch) {
        case 'c':
            path = optarg;
            break;
        case 't':
            test = 1;
            break;
        case 'V':
            printf("tollgate %s\n", TG_VERSION);
            return 0;
        case 'h':
            tg_usage(stdout);
            return 0;
        default:
            tg_usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        tg_usage(stderr);
        return 2;
    }
    cf = tg_config_load_file(path, err, sizeof(err));
    if (cf == NULL) {
        fprintf(stderr, "tollgate: %s\n", err);
        if (test)
            fprintf(stderr, "tollgate: configuration file %s test failed\n", path);
        return 1;
    }
    if (test) {
        printf("tollgate: configuration file %s test is successful (%zu providers, %zu models, "
               "%zu route%s)\n",
               path, cf->nproviders, cf->nmodels, cf->nroutes, cf->nroutes == 1 ? "" : "s");
        tg_config_unref(cf);
        return 0;
    }
    if (tg_log_open(cf->error_log, (tg_log_level_t)cf->log_level) == -1) {
        tg_config_unref(cf);
        return 1;
    }
    return tg_master_run(cf);
}
