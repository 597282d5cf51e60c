/*
 * rss_floor.c -- the memory floor of the dispatcher's libraries: a program
 * that loads the shared objects the dispatcher needs (libcurl and what it
 * brings, rabbitmq-c, jansson, libmicrohttpd with GnuTLS, nettle,
 * libsystemd), initialises libcurl as the Docker client does (which
 * initialises OpenSSL) and makes one request to Docker's /_ping, then
 * waits to be measured and killed.  bench_perf prints its VmRSS next to
 * the idle dispatcher's: what is left is the dispatcher's own.
 *
 *   rss_floor SOCKET_PATH      (e.g. /var/run/docker.sock)
 */
#include <stdio.h>
#include <unistd.h>

#include <amqp.h>
#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <nettle/base64.h>
#include <systemd/sd-daemon.h>

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

int main(int argc, char **argv)
{
    /* referenced, so that the linker keeps each library as the
     * dispatcher's link does (--as-needed drops unused ones) */
    void *volatile keep[] = {(void *)json_object,
                             (void *)amqp_new_connection,
                             (void *)MHD_start_daemon,
                             (void *)nettle_base64_encode_init,
                             (void *)gnutls_global_init,
                             (void *)sd_notify,
                             (void *)(double (*)(double))sqrt};
    (void)keep;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    CURL *c = curl_easy_init();
    if (c == NULL)
        return 1;
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, argc > 1 ? argv[1] : "/var/run/docker.sock");
    curl_easy_setopt(c, CURLOPT_URL, "http://localhost/_ping");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(c);
    puts(rc == CURLE_OK ? "ready" : "ready (Docker did not answer)");
    fflush(stdout);
    pause();
    curl_easy_cleanup(c);
    return 0;
}
