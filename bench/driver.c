/* The benchmark's driver: plays the Mistral engine on the wire. It casts
 * run_action requests to the executor topic exactly as Mistral 23 does
 * (bench/templates.py), keeps CONCURRENCY of them in flight, consumes what
 * executors send to the engine topic (on_action_complete and
 * report_running_actions) and checks every completion: each id it sent
 * completes once, with the echo result it asked for (data = its output,
 * error null). Prints one JSON line; exits 1 when a completion is missing,
 * duplicated or wrong.
 *
 *   driver TEMPLATE_DIR CLASS CODE_SOURCE_ID COUNT CONCURRENCY RUN_TAG [STALL_SECONDS]
 * RUN_TAG: 8 hex digits, the first part of every action execution id (a
 * completion of another run is counted as foreign and ignored).
 * Broker: BENCH_AMQP_* (bench/common.h); topics BENCH_EXECUTOR_TOPIC,
 * BENCH_ENGINE_TOPIC (mistral_executor, mistral_engine). */
#include "common.h"
#include <sys/resource.h>

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + (double)usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

static template_t request;
static char message[65536];
static const char *tag;

static void send_request(amqp_connection_state_t conn, const char *topic, const char *cls, const char *csid, long seq) {
    char id[40], output[64], uid[33], req[33];
    snprintf(id, sizeof id, "%s-0000-4000-8000-%012lx", tag, seq);
    snprintf(output, sizeof output, "echo-%s-%ld", tag, seq);
    snprintf(uid, sizeof uid, "%s%024lx", tag, seq);
    snprintf(req, sizeof req, "%s%024lx", tag, seq);
    const char *names[] = {"AEID", "OUT", "UID", "REQ", "CLS", "CSID"};
    const char *values[] = {id, output, uid, req, cls, csid};
    size_t n = template_expand(&request, message, sizeof message, 6, names, values);
    publish_cast(conn, "openstack", topic, message, n);
}

int main(int argc, char **argv) {
    if (argc < 7) die("usage: driver TEMPLATE_DIR CLASS CODE_SOURCE_ID COUNT CONCURRENCY RUN_TAG [STALL_SECONDS]");
    const char *cls = argv[2], *csid = argv[3];
    long count = atol(argv[4]), concurrency = atol(argv[5]);
    tag = argv[6];
    double stall = argc > 7 ? atof(argv[7]) : 30;
    if (count < 1 || concurrency < 1 || strlen(tag) != 8) die("bad COUNT, CONCURRENCY or RUN_TAG");
    const char *topic = getenv("BENCH_EXECUTOR_TOPIC") ? getenv("BENCH_EXECUTOR_TOPIC") : "mistral_executor";
    const char *engine_topic = getenv("BENCH_ENGINE_TOPIC") ? getenv("BENCH_ENGINE_TOPIC") : "mistral_engine";
    char path[4096];
    snprintf(path, sizeof path, "%s/run_action.tpl", argv[1]);
    template_load(&request, path);

    double *sent_at = calloc((size_t)count, sizeof(double));
    double *latency = calloc((size_t)count, sizeof(double));
    unsigned char *done = calloc((size_t)count, 1);
    if (!sent_at || !latency || !done) die("out of memory");

    amqp_connection_state_t conn = bench_connect();
    declare_topic_queue(conn, "openstack", topic);
    declare_topic_queue(conn, "openstack", engine_topic);
    amqp_queue_purge(conn, 1, amqp_cstring_bytes(engine_topic));
    check_reply(amqp_get_rpc_reply(conn), "queue.purge");
    amqp_basic_consume(conn, 1, amqp_cstring_bytes(engine_topic), amqp_empty_bytes, 0, 1, 0, amqp_empty_table);
    check_reply(amqp_get_rpc_reply(conn), "basic.consume");

    long next = 0, completed = 0, duplicates = 0, wrong = 0, foreign = 0, heartbeats = 0, other = 0;
    double cpu0 = cpu_seconds(), start = now_seconds(), last_progress = start;
    for (; next < concurrency && next < count; next++) {
        sent_at[next] = now_seconds();
        send_request(conn, topic, cls, csid, next);
    }
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%s-", tag);
    while (completed < count) {
        amqp_envelope_t envelope;
        struct timeval timeout = {1, 0};
        amqp_maybe_release_buffers(conn);
        amqp_rpc_reply_t r = amqp_consume_message(conn, &envelope, &timeout, 0);
        double now = now_seconds();
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) {
            if (now - last_progress > stall) break;
            continue;
        }
        if (r.reply_type != AMQP_RESPONSE_NORMAL) die("consume failed (reply type %d)", (int)r.reply_type);
        const char *body = envelope.message.body.bytes;
        size_t length = envelope.message.body.len;
        char id[64], value[256];
        if (find_in(body, length, body, "\\\"method\\\": \\\"report_running_actions\\\"")) {
            heartbeats++;
        } else if (!find_in(body, length, body, "\\\"method\\\": \\\"on_action_complete\\\"")) {
            other++;
        } else if (!value_after(body, length, body, "action_ex_id", id, sizeof id) || strlen(id) != 36) {
            wrong++;
        } else if (strncmp(id, prefix, 9) != 0) {
            foreign++;
        } else {
            long seq = strtol(id + 24, NULL, 16);
            if (seq < 0 || seq >= next) {
                wrong++;
            } else if (done[seq]) {
                duplicates++;
            } else {
                /* Result's __serial_data: data is the output sent, error null. */
                char expected[64];
                snprintf(expected, sizeof expected, "echo-%s-%ld", tag, seq);
                const char *serial = find_in(body, length, body, "__serial_data");
                const char *after = serial ? value_after(body, length, serial + 13, "data", value, sizeof value) : NULL;
                char error[16];
                if (!after || strcmp(value, expected) != 0 || !value_after(body, length, after, "error", error, sizeof error) || strcmp(error, "null") != 0) {
                    wrong++;
                    if (wrong <= 3) fprintf(stderr, "wrong completion for %s: %.*s\n", id, (int)(length < 2000 ? length : 2000), body);
                }
                done[seq] = 1;
                latency[completed++] = now - sent_at[seq];
                last_progress = now;
                if (next < count) {
                    sent_at[next] = now_seconds();
                    send_request(conn, topic, cls, csid, next);
                    next++;
                }
            }
        }
        amqp_destroy_envelope(&envelope);
    }
    double elapsed = (completed == count ? now_seconds() : last_progress) - start;
    double cpu = cpu_seconds() - cpu0;
    qsort(latency, (size_t)completed, sizeof(double), compare_doubles);
    double p50 = completed ? latency[(completed - 1) / 2] : 0;
    double p99 = completed ? latency[(long)((completed - 1) * 0.99)] : 0;
    long missing = count - completed;
    printf("{\"count\": %ld, \"concurrency\": %ld, \"completed\": %ld, \"missing\": %ld, \"duplicates\": %ld, \"wrong\": %ld, "
           "\"foreign\": %ld, \"heartbeats\": %ld, \"other\": %ld, \"seconds\": %.3f, \"per_second\": %.1f, "
           "\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"driver_cpu_us_per_action\": %.1f}\n",
           count, concurrency, completed, missing, duplicates, wrong, foreign, heartbeats, other, elapsed,
           elapsed > 0 ? completed / elapsed : 0, p50 * 1e3, p99 * 1e3, completed ? cpu / completed * 1e6 : 0);
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
    return (missing || duplicates || wrong) ? 1 : 0;
}
