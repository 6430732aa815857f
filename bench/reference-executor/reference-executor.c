/* The benchmark's ceiling: the least an executor can do on Mistral's wire.
 * It consumes the executor topic queue (acknowledging each request, as
 * oslo.messaging does), and for each run_action casts
 * report_running_actions([id]) and on_action_complete(id, Result(data =
 * the action's `output`)) to the engine topic: the two messages every real
 * executor sends per action. No JSON decoding: the values are read out of
 * the body (bench/common.h).
 *
 *   reference-executor TEMPLATE_DIR [TOPIC] [ENGINE_TOPIC]
 * Broker: BENCH_AMQP_* (bench/common.h). */
#include "../common.h"

int main(int argc, char **argv) {
    if (argc < 2) die("usage: reference-executor TEMPLATE_DIR [TOPIC] [ENGINE_TOPIC]");
    const char *topic = argc > 2 ? argv[2] : "mistral_executor";
    const char *engine_topic = argc > 3 ? argv[3] : "mistral_engine";
    char path[4096];
    template_t complete, heartbeat;
    snprintf(path, sizeof path, "%s/on_action_complete.tpl", argv[1]);
    template_load(&complete, path);
    snprintf(path, sizeof path, "%s/report_running_actions.tpl", argv[1]);
    template_load(&heartbeat, path);

    amqp_connection_state_t conn = bench_connect();
    declare_topic_queue(conn, "openstack", topic);
    amqp_basic_consume(conn, 1, amqp_cstring_bytes(topic), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    check_reply(amqp_get_rpc_reply(conn), "basic.consume");
    fprintf(stderr, "reference executor consuming %s\n", topic);

    static char out[65536];
    unsigned long long counter = 0;
    const char *names[] = {"AEID", "OUT", "UID", "REQ"};
    for (;;) {
        amqp_envelope_t envelope;
        amqp_maybe_release_buffers(conn);
        amqp_rpc_reply_t r = amqp_consume_message(conn, &envelope, NULL, 0);
        if (r.reply_type != AMQP_RESPONSE_NORMAL) die("consume failed (reply type %d)", (int)r.reply_type);
        amqp_basic_ack(conn, 1, envelope.delivery_tag, 0);
        const char *body = envelope.message.body.bytes;
        size_t length = envelope.message.body.len;
        char id[64], output[256], uid[33], req[33];
        if (!find_in(body, length, body, "\\\"method\\\": \\\"run_action\\\"")) {
            amqp_destroy_envelope(&envelope);
            continue;
        }
        const char *args = find_in(body, length, body, "\"args");
        if (!args || !value_after(body, length, args, "action_ex_id", id, sizeof id) || !value_after(body, length, body, "output", output, sizeof output)) {
            fprintf(stderr, "skipping a request without action_ex_id or output\n");
            amqp_destroy_envelope(&envelope);
            continue;
        }
        counter++;
        snprintf(uid, sizeof uid, "%016llx%016llx", (unsigned long long)getpid(), counter);
        snprintf(req, sizeof req, "%016llx%016llx", 0x5eedULL, counter);
        const char *values[] = {id, output, uid, req};
        size_t n = template_expand(&heartbeat, out, sizeof out, 4, names, values);
        publish_cast(conn, "openstack", engine_topic, out, n);
        counter++;
        snprintf(uid, sizeof uid, "%016llx%016llx", (unsigned long long)getpid(), counter);
        n = template_expand(&complete, out, sizeof out, 4, names, values);
        publish_cast(conn, "openstack", engine_topic, out, n);
        amqp_destroy_envelope(&envelope);
    }
}
