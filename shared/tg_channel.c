/*
 * msgpack framing for the master/worker channel (see tg_channel.h). Payloads are small and rare
 * (reloads, quit), so clarity beats zero-copy here.
 */
#include "shared/tg_channel.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

static void tg_pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

int tg_msg_write(struct evbuffer *out, const tg_msg_t *msg)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint32_t be;
    int rc = -1;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint8(&pk, TG_CHANNEL_VERSION);
    msgpack_pack_uint8(&pk, (uint8_t)msg->type);
    msgpack_pack_uint64(&pk, msg->generation);
    if (msg->type == TG_MSG_CONFIG) {
        msgpack_pack_array(&pk, msg->source.nfiles);
        for (size_t i = 0; i < msg->source.nfiles; i++) {
            msgpack_pack_array(&pk, 2);
            tg_pack_str(&pk, msg->source.files[i].path, strlen(msg->source.files[i].path));
            tg_pack_str(&pk, msg->source.files[i].data, msg->source.files[i].len);
        }
    } else if (msg->type == TG_MSG_PROVIDER_KEY) {
        msgpack_pack_array(&pk, 2);
        tg_pack_str(&pk, msg->name, strlen(msg->name));
        tg_pack_str(&pk, msg->text, strlen(msg->text));
    } else if (msg->text != NULL) {
        tg_pack_str(&pk, msg->text, strlen(msg->text));
    } else {
        msgpack_pack_nil(&pk);
    }
    if (sb.size > TG_CHANNEL_MAX_FRAME)
        goto done;
    be = htonl((uint32_t)sb.size);
    if (evbuffer_add(out, &be, 4) == 0 && evbuffer_add(out, sb.data, sb.size) == 0)
        rc = 0;
done:
    if (sb.data != NULL)
        explicit_bzero(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static char *tg_obj_strdup(const msgpack_object *o)
{
    char *s;

    if (o->type != MSGPACK_OBJECT_STR)
        return NULL;
    s = malloc(o->via.str.size + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, o->via.str.ptr, o->via.str.size);
    s[o->via.str.size] = '\0';
    return s;
}

int tg_msg_read(struct evbuffer *in, tg_msg_t *msg)
{
    uint32_t be;
    size_t len;
    unsigned char *frame;
    msgpack_unpacked up;
    msgpack_object *a;
    int rc = -1;

    memset(msg, 0, sizeof(*msg));
    if (evbuffer_get_length(in) < 4)
        return 0;
    evbuffer_copyout(in, &be, 4);
    len = ntohl(be);
    if (len > TG_CHANNEL_MAX_FRAME)
        return -1;
    if (evbuffer_get_length(in) < 4 + len)
        return 0;
    frame = evbuffer_pullup(in, (ev_ssize_t)(4 + len));
    if (frame == NULL)
        return -1;
    msgpack_unpacked_init(&up);
    if (msgpack_unpack_next(&up, (const char *)frame + 4, len, NULL) != MSGPACK_UNPACK_SUCCESS)
        goto done;
    if (up.data.type != MSGPACK_OBJECT_ARRAY || up.data.via.array.size != 4)
        goto done;
    a = up.data.via.array.ptr;
    if (a[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[0].via.u64 != TG_CHANNEL_VERSION ||
        a[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        a[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        goto done;
    msg->type = (tg_msg_type_t)a[1].via.u64;
    msg->generation = a[2].via.u64;
    if (msg->type == TG_MSG_CONFIG) {
        if (a[3].type != MSGPACK_OBJECT_ARRAY)
            goto done;
        msg->source.files = calloc(a[3].via.array.size + 1, sizeof(tg_config_file_t));
        if (msg->source.files == NULL)
            goto done;
        for (uint32_t i = 0; i < a[3].via.array.size; i++) {
            msgpack_object *f = &a[3].via.array.ptr[i];
            tg_config_file_t *cfile = &msg->source.files[msg->source.nfiles];
            if (f->type != MSGPACK_OBJECT_ARRAY || f->via.array.size != 2)
                goto done;
            cfile->path = tg_obj_strdup(&f->via.array.ptr[0]);
            cfile->data = tg_obj_strdup(&f->via.array.ptr[1]);
            msg->source.nfiles++;
            if (cfile->path == NULL || cfile->data == NULL)
                goto done;
            cfile->len = f->via.array.ptr[1].via.str.size;
        }
    } else if (msg->type == TG_MSG_PROVIDER_KEY) {
        if (a[3].type != MSGPACK_OBJECT_ARRAY || a[3].via.array.size != 2 ||
            (msg->name = tg_obj_strdup(&a[3].via.array.ptr[0])) == NULL ||
            (msg->text = tg_obj_strdup(&a[3].via.array.ptr[1])) == NULL)
            goto done;
    } else if (a[3].type == MSGPACK_OBJECT_STR) {
        if ((msg->text = tg_obj_strdup(&a[3])) == NULL)
            goto done;
    }
    rc = 1;
done:
    msgpack_unpacked_destroy(&up);
    evbuffer_drain(in, 4 + len);
    if (rc != 1)
        tg_msg_clear(msg);
    return rc;
}

void tg_msg_clear(tg_msg_t *msg)
{
    for (size_t i = 0; i < msg->source.nfiles; i++) {
        free(msg->source.files[i].path);
        free(msg->source.files[i].data);
    }
    free(msg->source.files);
    if (msg->text != NULL)
        explicit_bzero(msg->text, strlen(msg->text)); /* may be a provider key */
    free(msg->text);
    free(msg->name);
    memset(msg, 0, sizeof(*msg));
}
