/* Shared by the benchmark's driver and reference executor: a broker
 * connection on librabbitmq, message templates with @NAME@ placeholders
 * (written by bench/templates.py), and a scanner that reads a value out of
 * a JSON-in-JSON body without decoding it (the values the benchmark puts in
 * messages are [A-Za-z0-9-], so the escaping layers around them are only
 * backslashes and quotes). */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static __attribute__((unused)) void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static __attribute__((unused)) void check_reply(amqp_rpc_reply_t r, const char *what) {
    if (r.reply_type != AMQP_RESPONSE_NORMAL) die("%s failed (reply type %d)", what, (int)r.reply_type);
}

static __attribute__((unused)) double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Connects with BENCH_AMQP_HOST/PORT/USER/PASSWORD/VHOST (defaults: the
 * local services' broker, vhost "bench") and opens channel 1. */
static __attribute__((unused)) amqp_connection_state_t bench_connect(void) {
    const char *host = getenv("BENCH_AMQP_HOST") ? getenv("BENCH_AMQP_HOST") : "127.0.0.1";
    int port = getenv("BENCH_AMQP_PORT") ? atoi(getenv("BENCH_AMQP_PORT")) : 26672;
    const char *user = getenv("BENCH_AMQP_USER") ? getenv("BENCH_AMQP_USER") : "guest";
    const char *password = getenv("BENCH_AMQP_PASSWORD") ? getenv("BENCH_AMQP_PASSWORD") : "guest";
    const char *vhost = getenv("BENCH_AMQP_VHOST") ? getenv("BENCH_AMQP_VHOST") : "bench";
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *socket = amqp_tcp_socket_new(conn);
    if (!socket) die("cannot create a socket");
    if (amqp_socket_open(socket, host, port) != AMQP_STATUS_OK) die("cannot connect to %s:%d", host, port);
    check_reply(amqp_login(conn, vhost, 0, 131072, 60, AMQP_SASL_METHOD_PLAIN, user, password), "login");
    amqp_channel_open(conn, 1);
    check_reply(amqp_get_rpc_reply(conn), "channel.open");
    return conn;
}

/* The exchange and a topic queue bound to it, declared as oslo.messaging
 * declares them (non-durable, not auto-delete, no arguments). */
static __attribute__((unused)) void declare_topic_queue(amqp_connection_state_t conn, const char *exchange, const char *queue) {
    amqp_exchange_declare(conn, 1, amqp_cstring_bytes(exchange), amqp_cstring_bytes("topic"), 0, 0, 0, 0, amqp_empty_table);
    check_reply(amqp_get_rpc_reply(conn), "exchange.declare");
    amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue), 0, 0, 0, 0, amqp_empty_table);
    check_reply(amqp_get_rpc_reply(conn), "queue.declare");
    amqp_queue_bind(conn, 1, amqp_cstring_bytes(queue), amqp_cstring_bytes(exchange), amqp_cstring_bytes(queue), amqp_empty_table);
    check_reply(amqp_get_rpc_reply(conn), "queue.bind");
}

/* Publishes a cast as Mistral does: application/json, utf-8, persistent,
 * priority 0, no expiration, not mandatory. */
static __attribute__((unused)) void publish_cast(amqp_connection_state_t conn, const char *exchange, const char *routing_key, const char *body, size_t length) {
    amqp_basic_properties_t props;
    memset(&props, 0, sizeof props);
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_CONTENT_ENCODING_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_PRIORITY_FLAG;
    props.content_type = amqp_cstring_bytes("application/json");
    props.content_encoding = amqp_cstring_bytes("utf-8");
    props.delivery_mode = 2;
    props.priority = 0;
    amqp_bytes_t bytes = {length, (void *)body};
    if (amqp_basic_publish(conn, 1, amqp_cstring_bytes(exchange), amqp_cstring_bytes(routing_key), 0, 0, &props, bytes) != AMQP_STATUS_OK)
        die("basic.publish failed");
}

/* --- templates ------------------------------------------------------------ */

#define MAX_PARTS 64
typedef struct {
    int count;
    const char *text[MAX_PARTS]; /* literal text before placeholder i */
    size_t length[MAX_PARTS];
    char name[MAX_PARTS][16];    /* placeholder after text i ("" for the last) */
} template_t;

static __attribute__((unused)) char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) die("cannot read %s", path);
    text[n] = 0;
    fclose(f);
    return text;
}

static __attribute__((unused)) void template_load(template_t *t, const char *path) {
    char *text = read_file(path);
    t->count = 0;
    char *p = text;
    for (;;) {
        if (t->count >= MAX_PARTS) die("too many placeholders in %s", path);
        char *at = strchr(p, '@');
        char *end = at ? strchr(at + 1, '@') : NULL;
        if (!at || !end || end - at - 1 >= 16) {
            t->text[t->count] = p;
            t->length[t->count] = strlen(p);
            t->name[t->count][0] = 0;
            t->count++;
            return;
        }
        t->text[t->count] = p;
        t->length[t->count] = (size_t)(at - p);
        memcpy(t->name[t->count], at + 1, (size_t)(end - at - 1));
        t->name[t->count][end - at - 1] = 0;
        t->count++;
        p = end + 1;
    }
}

/* Expands a template into out (capacity size); values[i] is the value of
 * names[i]. Returns the length. */
static __attribute__((unused)) size_t template_expand(const template_t *t, char *out, size_t size, int n, const char *const *names, const char *const *values) {
    size_t used = 0;
    for (int i = 0; i < t->count; i++) {
        if (used + t->length[i] >= size) die("message too large");
        memcpy(out + used, t->text[i], t->length[i]);
        used += t->length[i];
        if (!t->name[i][0]) continue;
        const char *value = NULL;
        for (int k = 0; k < n; k++) if (strcmp(names[k], t->name[i]) == 0) { value = values[k]; break; }
        if (!value) die("no value for @%s@", t->name[i]);
        size_t length = strlen(value);
        if (used + length >= size) die("message too large");
        memcpy(out + used, value, length);
        used += length;
    }
    out[used] = 0;
    return used;
}

/* --- scanning ---------------------------------------------------------------- */

static __attribute__((unused)) const char *find_in(const char *body, size_t length, const char *from, const char *needle) {
    size_t n = strlen(needle);
    const char *end = body + length;
    for (const char *p = from; p + n <= end; p++)
        if (*p == needle[0] && memcmp(p, needle, n) == 0) return p;
    return NULL;
}

/* The value after key (found from `from`): skips quotes, backslashes, colons
 * and spaces, then copies [A-Za-z0-9-] characters into out. Returns the end
 * of the value, or NULL. */
static __attribute__((unused)) const char *value_after(const char *body, size_t length, const char *from, const char *key, char *out, size_t size) {
    const char *p = find_in(body, length, from, key);
    if (!p) return NULL;
    const char *end = body + length;
    p += strlen(key);
    while (p < end && (*p == '"' || *p == '\\' || *p == ':' || *p == ' ')) p++;
    size_t n = 0;
    while (p < end && n + 1 < size && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '-'))
        out[n++] = *p++;
    out[n] = 0;
    return n ? p : NULL;
}

#endif
