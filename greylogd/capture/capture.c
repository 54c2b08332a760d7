/* greylogd._nflog's own C: the one packet parser (used by the NFLOG callback below and, through cffi, by
 * greylogd.capture.packet.parse for NFQUEUE) and the NFLOG callback that turns each logged packet into one
 * fixed-size record, so that Python handles a whole read as arrays instead of one object per packet.
 *
 * Error policy of the parser: the bytes come from the network and may be cut short by the capture's copy
 * range, so every length is checked against both the bytes we have and the lengths the headers declare;
 * anything that does not add up is malformed (return 0). A non-first fragment, ESP or "no next header"
 * carries no transport header: ports and flags are then 0, which is not malformed. IPv6 extension headers
 * (hop-by-hop, routing, fragment, destination options, AH) are walked, at most GREYLOGD_MAX_EXT_HEADERS
 * of them (a longer chain is malformed, to bound the work per packet). It never reads outside [data, len).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <libnetfilter_log/libnetfilter_log.h>

#include "capture.h"

#define EXT_NONE (-1)
#define EXT_MALFORMED (-2)

static unsigned be16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }

static void addresses(struct greylogd_packet *out, int family, const uint8_t *src, const uint8_t *dst,
                      size_t size)
{
    memset(out, 0, sizeof *out);
    out->family = family;
    memcpy(out->src, src, size);
    memcpy(out->dst, dst, size);
}

/* The transport header at off (bounded by the IP length `end` and the captured `len`): ports and TCP flags
 * for TCP (20-byte minimum, data offset >= 5) and UDP (8 bytes); other protocols have none. */
static int with_ports(struct greylogd_packet *out, int proto, const uint8_t *data, long len, long off,
                      long end)
{
    long need = proto == GREYLOGD_TCP ? 20 : proto == GREYLOGD_UDP ? 8 : 0;
    out->proto = proto;
    if (need == 0)
        return 1;
    if (off + need > (len < end ? len : end))
        return 0;
    out->sport = be16(data + off);
    out->dport = be16(data + off + 2);
    if (proto == GREYLOGD_TCP) {
        if (data[off + 12] >> 4 < 5)
            return 0;
        out->tcp_flags = data[off + 13];
    }
    return 1;
}

static int parse_v4(const uint8_t *data, long len, struct greylogd_packet *out)
{
    if (len < 20)
        return 0;
    long hlen = (data[0] & 0x0F) * 4, total = be16(data + 2);
    if (hlen < 20 || hlen > len || total < hlen)
        return 0;
    addresses(out, AF_INET, data + 12, data + 16, 4);
    if (be16(data + 6) & 0x1FFF) { /* not the first fragment: no transport header here */
        out->proto = data[9];
        return 1;
    }
    return with_ports(out, data[9], data, len, hlen, total);
}

/* Length of the extension header `nxt` at off, its next-header value in *following; 0 for a non-first
 * fragment (nothing after it can be parsed); EXT_NONE when nxt is no extension header; EXT_MALFORMED. */
static long ext_header(const uint8_t *data, long len, int nxt, long off, long end, int *following)
{
    if (nxt != 0 && nxt != 43 && nxt != 44 && nxt != 51 && nxt != 60)
        return EXT_NONE;
    if (off + 8 > (len < end ? len : end)) /* every extension header is at least 8 bytes */
        return EXT_MALFORMED;
    *following = data[off];
    if (nxt == 44)
        return be16(data + off + 2) & 0xFFF8 ? 0 : 8;
    long length = nxt == 51 ? (data[off + 1] + 2) * 4 : (data[off + 1] + 1) * 8;
    return off + length <= end ? length : EXT_MALFORMED;
}

static int parse_v6(const uint8_t *data, long len, struct greylogd_packet *out)
{
    if (len < 40)
        return 0;
    int nxt = data[6];
    long end = 40 + (long)be16(data + 4), off = 40;
    addresses(out, AF_INET6, data + 8, data + 24, 16);
    for (int i = 0; i <= GREYLOGD_MAX_EXT_HEADERS; i++) {
        int following = 0;
        long length = ext_header(data, len, nxt, off, end, &following);
        if (length == EXT_NONE)
            return with_ports(out, nxt, data, len, off, end);
        if (length == EXT_MALFORMED)
            return 0;
        nxt = following;
        if (length == 0) { /* non-first fragment */
            out->proto = nxt;
            return 1;
        }
        off += length;
    }
    return 0;
}

int greylogd_parse_packet(const uint8_t *data, long len, int family, struct greylogd_packet *out)
{
    if (len <= 0)
        return 0;
    int version = data[0] >> 4;
    if (version == 4 && (family == GREYLOGD_ANY_FAMILY || family == AF_INET))
        return parse_v4(data, len, out);
    if (version == 6 && (family == GREYLOGD_ANY_FAMILY || family == AF_INET6))
        return parse_v6(data, len, out);
    return 0;
}

/* nflog_callback for every group: append one record to the group's sink. A full sink only counts the
 * packet in sink->overflow (the caller sizes the sink so that one datagram can never fill it). */
int greylogd_on_packet(struct nflog_g_handle *gh, struct nfgenmsg *nfmsg, struct nflog_data *nfd, void *data)
{
    struct greylogd_group *group = data;
    struct greylogd_sink *sink = group->sink;
    (void)gh;
    if (sink->count >= sink->capacity) {
        sink->overflow++;
        return 0;
    }
    struct greylogd_record *r = &sink->records[sink->count++];
    memset(r, 0, sizeof *r);
    r->group = group->num;
    r->inbound = group->inbound;
    uint32_t seq;
    if (nflog_get_seq(nfd, &seq) == 0) {
        r->has_seq = 1;
        r->seq = seq;
    }
    struct timeval tv;
    if (nflog_get_timestamp(nfd, &tv) == 0) {
        r->has_ts = 1;
        r->ts = tv.tv_sec + tv.tv_usec / 1e6;
    }
    char *prefix = nflog_get_prefix(nfd);
    if (prefix != NULL)
        strncpy(r->prefix, prefix, sizeof r->prefix - 1);
    char *payload = NULL;
    int size = nflog_get_payload(nfd, &payload);
    struct greylogd_packet p;
    if (size > 0 && greylogd_parse_packet((const uint8_t *)payload, size, nfmsg->nfgen_family, &p)) {
        r->parsed = 1;
        r->family = p.family;
        r->proto = p.proto;
        r->tcp_flags = p.tcp_flags;
        r->sport = p.sport;
        r->dport = p.dport;
        inet_ntop(p.family, p.src, r->src, sizeof r->src);
        inet_ntop(p.family, p.dst, r->dst, sizeof r->dst);
    }
    return 0;
}
