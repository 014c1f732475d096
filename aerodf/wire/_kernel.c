/* aerodf.wire._kernel: the wire path's per-request work in C (issue 17).
 *
 * - digests(set, keys): RIPEMD-160 of set || key type || key bytes per user key
 *   (PROTOCOL.md "Digest and partition"), the hashing of many keys with the GIL released;
 * - encode(...): one batch-index request frame (full first row, REPEAT rows after);
 * - Plan / Batch: an answer's frames walked message by message and every scalar
 *   bin (ints, floats, bools, timestamps, strings, bytes) and float vector decoded
 *   (any other bin located for the NumPy decoders) into row-ordered
 *   column buffers, with validity, per-row "bad" marks (a value the exact path must
 *   decode: another particle type, an int too wide, non-UTF-8 ...) and record heads.
 *
 * Every read of the answer is bounds-checked against the frame; a frame that is not
 * a run of whole messages raises ValueError. Python (aerodf/wire/kernel.py) builds
 * the Arrow arrays from the buffers and keeps the exact path for the bad rows, so
 * the answer equals the NumPy path's.
 * - Batch.scan: one scan frame's records, in order, into a batch (partition-done markers
 *   and each partition's last digest reported apart);
 * - Batch.exchange: an attempt's sockets (send every request, poll, recv, decode) in one
 *   call without the GIL. Work of a few microseconds (hashing a few hundred keys, a frame
 *   fed from Python) keeps the GIL: under many threads, handing it back and forth can cost
 *   a whole switch interval, far more than the work.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <math.h>
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#define HSZ 22
#define INFO3_LAST 1
#define INFO3_PARTITION_DONE 4
#define NOGIL_BYTES (1 << 16)
#define NOGIL_KEYS 512

/* ------------------------------------------------------------------ RIPEMD-160 */

static const uint8_t RL[80] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    7, 4, 13, 1, 10, 6, 15, 3, 12, 0, 9, 5, 2, 14, 11, 8,
    3, 10, 14, 4, 9, 15, 8, 1, 2, 7, 0, 6, 13, 11, 5, 12,
    1, 9, 11, 10, 0, 8, 12, 4, 13, 3, 7, 15, 14, 5, 6, 2,
    4, 0, 5, 9, 7, 12, 2, 10, 14, 1, 3, 8, 11, 6, 15, 13};
static const uint8_t RR[80] = {
    5, 14, 7, 0, 9, 2, 11, 4, 13, 6, 15, 8, 1, 10, 3, 12,
    6, 11, 3, 7, 0, 13, 5, 10, 14, 15, 8, 12, 4, 9, 1, 2,
    15, 5, 1, 3, 7, 14, 6, 9, 11, 8, 12, 2, 10, 0, 4, 13,
    8, 6, 4, 1, 3, 11, 15, 0, 5, 12, 2, 13, 9, 7, 10, 14,
    12, 15, 10, 4, 1, 5, 8, 7, 6, 2, 13, 14, 0, 3, 9, 11};
static const uint8_t SL[80] = {
    11, 14, 15, 12, 5, 8, 7, 9, 11, 13, 14, 15, 6, 7, 9, 8,
    7, 6, 8, 13, 11, 9, 7, 15, 7, 12, 15, 9, 11, 7, 13, 12,
    11, 13, 6, 7, 14, 9, 13, 15, 14, 8, 13, 6, 5, 12, 7, 5,
    11, 12, 14, 15, 14, 15, 9, 8, 9, 14, 5, 6, 8, 6, 5, 12,
    9, 15, 5, 11, 6, 8, 13, 12, 5, 12, 13, 14, 11, 8, 5, 6};
static const uint8_t SR[80] = {
    8, 9, 9, 11, 13, 15, 15, 5, 7, 7, 8, 11, 14, 14, 12, 6,
    9, 13, 15, 7, 12, 8, 9, 11, 7, 7, 12, 7, 6, 15, 13, 11,
    9, 7, 15, 11, 8, 6, 6, 14, 12, 13, 5, 14, 13, 13, 7, 5,
    15, 5, 8, 11, 14, 14, 6, 14, 6, 9, 12, 9, 12, 5, 15, 8,
    8, 5, 12, 9, 12, 5, 14, 6, 8, 13, 6, 5, 15, 13, 11, 11};
static const uint32_t KL[5] = {0x00000000u, 0x5A827999u, 0x6ED9EBA1u, 0x8F1BBCDCu, 0xA953FD4Eu};
static const uint32_t KR[5] = {0x50A28BE6u, 0x5C4DD124u, 0x6D703EF3u, 0x7A6D76E9u, 0x00000000u};

static inline uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static inline uint32_t F1(uint32_t x, uint32_t y, uint32_t z) { return x ^ y ^ z; }
static inline uint32_t F2(uint32_t x, uint32_t y, uint32_t z) { return (x & y) | (~x & z); }
static inline uint32_t F3(uint32_t x, uint32_t y, uint32_t z) { return (x | ~y) ^ z; }
static inline uint32_t F4(uint32_t x, uint32_t y, uint32_t z) { return (x & z) | (y & ~z); }
static inline uint32_t F5(uint32_t x, uint32_t y, uint32_t z) { return x ^ (y | ~z); }

/* one round of 16 steps on both lines: left with FL, right with FR (the rounds' functions
 * run in opposite orders on the two lines) */
#define RMD_ROUND(r, FL, FR)                                                             \
    for (int j = 16 * (r); j < 16 * (r) + 16; j++) {                                     \
        t = rol(al + FL(bl, cl, dl) + x[RL[j]] + KL[r], SL[j]) + el;                     \
        al = el; el = dl; dl = rol(cl, 10); cl = bl; bl = t;                             \
        t = rol(ar + FR(br, cr, dr) + x[RR[j]] + KR[r], SR[j]) + er;                     \
        ar = er; er = dr; dr = rol(cr, 10); cr = br; br = t;                             \
    }

static void rmd_block(uint32_t h[5], const uint8_t *b) {
    uint32_t x[16];
    for (int i = 0; i < 16; i++)
        x[i] = (uint32_t)b[4 * i] | ((uint32_t)b[4 * i + 1] << 8) | ((uint32_t)b[4 * i + 2] << 16) |
               ((uint32_t)b[4 * i + 3] << 24);
    uint32_t al = h[0], bl = h[1], cl = h[2], dl = h[3], el = h[4];
    uint32_t ar = h[0], br = h[1], cr = h[2], dr = h[3], er = h[4], t;
    RMD_ROUND(0, F1, F5)
    RMD_ROUND(1, F2, F4)
    RMD_ROUND(2, F3, F3)
    RMD_ROUND(3, F4, F2)
    RMD_ROUND(4, F5, F1)
    t = h[1] + cl + dr;
    h[1] = h[2] + dl + er;
    h[2] = h[3] + el + ar;
    h[3] = h[4] + al + br;
    h[4] = h[0] + bl + cr;
    h[0] = t;
}

/* RIPEMD-160 of a || b || c (the digest's three parts, without joining them). */
static void ripemd160_3(const uint8_t *a, size_t na, const uint8_t *b, size_t nb, const uint8_t *c, size_t nc,
                        uint8_t out[20]) {
    uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    uint8_t block[64];
    size_t fill = 0;
    const uint8_t *parts[3] = {a, b, c};
    size_t lens[3] = {na, nb, nc};
    for (int k = 0; k < 3; k++) {
        const uint8_t *p = parts[k];
        size_t n = lens[k];
        while (n) {
            size_t take = 64 - fill < n ? 64 - fill : n;
            memcpy(block + fill, p, take);
            fill += take; p += take; n -= take;
            if (fill == 64) { rmd_block(h, block); fill = 0; }
        }
    }
    uint64_t bits = (uint64_t)(na + nb + nc) * 8;
    block[fill++] = 0x80;
    if (fill > 56) { memset(block + fill, 0, 64 - fill); rmd_block(h, block); fill = 0; }
    memset(block + fill, 0, 56 - fill);
    for (int i = 0; i < 8; i++) block[56 + i] = (uint8_t)(bits >> (8 * i));
    rmd_block(h, block);
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < 4; k++) out[4 * i + k] = (uint8_t)(h[i] >> (8 * k));
}

/* digests(set: bytes, keys: list) -> bytes (20 per key), or the index (int) of the first key
 * this kernel does not hash (not int/str/bytes/bytearray, a bool, an int beyond 64 bits):
 * the caller then takes the Python path, which raises as it always did. */
static PyObject *k_digests(PyObject *self, PyObject *args) {
    Py_buffer set;
    PyObject *keys;
    if (!PyArg_ParseTuple(args, "y*O!", &set, &PyList_Type, &keys)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(keys);
    /* key material: type byte + bytes, copied under the GIL (another thread may change the list) */
    size_t cap = 16 * (size_t)n + 64, used = 0;
    uint8_t *mat = PyMem_Malloc(cap);
    Py_ssize_t *off = PyMem_Malloc(sizeof(Py_ssize_t) * ((size_t)n + 1));
    PyObject *result = NULL;
    if (!mat || !off) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *k = PyList_GET_ITEM(keys, i);
        const char *src = NULL;
        Py_ssize_t len = 0;
        uint8_t t;
        uint8_t ib[8];
        if (PyLong_CheckExact(k)) {
            int overflow = 0;
            long long v = PyLong_AsLongLongAndOverflow(k, &overflow);
            if (overflow || (v == -1 && PyErr_Occurred())) { PyErr_Clear(); result = PyLong_FromSsize_t(i); goto done; }
            for (int b = 0; b < 8; b++) ib[b] = (uint8_t)((unsigned long long)v >> (56 - 8 * b));
            t = 1; src = (const char *)ib; len = 8;
        } else if (PyUnicode_CheckExact(k)) {
            src = PyUnicode_AsUTF8AndSize(k, &len);
            if (!src) { PyErr_Clear(); result = PyLong_FromSsize_t(i); goto done; }  /* lone surrogates */
            t = 3;
        } else if (PyBytes_CheckExact(k)) {
            src = PyBytes_AS_STRING(k); len = PyBytes_GET_SIZE(k); t = 3;  /* bytes hash as a string key */
        } else if (PyByteArray_CheckExact(k)) {
            src = PyByteArray_AS_STRING(k); len = PyByteArray_GET_SIZE(k); t = 4;
        } else {
            result = PyLong_FromSsize_t(i);
            goto done;
        }
        if (used + 1 + (size_t)len > cap) {
            size_t ncap = (cap + 1 + (size_t)len) * 2;
            uint8_t *m = PyMem_Realloc(mat, ncap);
            if (!m) { PyErr_NoMemory(); goto done; }
            mat = m; cap = ncap;
        }
        off[i] = (Py_ssize_t)used;
        mat[used++] = t;
        memcpy(mat + used, src, (size_t)len);
        used += (size_t)len;
    }
    off[n] = (Py_ssize_t)used;
    result = PyBytes_FromStringAndSize(NULL, 20 * n);
    if (!result) goto done;
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(result);
    const uint8_t *sp = set.buf;
    size_t sl = (size_t)set.len;
    if (n >= NOGIL_KEYS) {  /* a few hundred hashes take less than handing the GIL back and forth */
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n; i++)
            ripemd160_3(sp, sl, mat + off[i], 1, mat + off[i] + 1, (size_t)(off[i + 1] - off[i] - 1), out + 20 * i);
        Py_END_ALLOW_THREADS
    } else {
        for (Py_ssize_t i = 0; i < n; i++)
            ripemd160_3(sp, sl, mat + off[i], 1, mat + off[i] + 1, (size_t)(off[i + 1] - off[i] - 1), out + 20 * i);
    }
done:
    PyMem_Free(mat);
    PyMem_Free(off);
    PyBuffer_Release(&set);
    return result;
}

/* ------------------------------------------------------------------ request */

static inline void put32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static inline void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static inline uint32_t get32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint16_t get16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

/* encode(first_tail, digests, rows, parent_flags, info1, timeout_ms) -> bytes: the whole data frame
 * of one batch-index request; rows (int64) index into digests (20 bytes each); the first row is
 * written in full (index, digest, 0, first_tail = info1, counts, namespace, set, READ ops), the
 * others as REPEAT rows. */
static PyObject *k_encode(PyObject *self, PyObject *args) {
    Py_buffer tail, dig, rows;
    int pflags, info1;
    unsigned long timeout_ms;
    if (!PyArg_ParseTuple(args, "y*y*y*iik", &tail, &dig, &rows, &pflags, &info1, &timeout_ms)) return NULL;
    PyObject *res = NULL;
    Py_ssize_t n = rows.len / 8;
    Py_ssize_t ndig = dig.len / 20;
    const int64_t *r = rows.buf;
    if (n < 1 || rows.len % 8) { PyErr_SetString(PyExc_ValueError, "encode needs at least one row"); goto done; }
    for (Py_ssize_t i = 0; i < n; i++)
        if (r[i] < 0 || r[i] >= ndig || r[i] > 0xFFFFFFFFLL) {
            PyErr_SetString(PyExc_IndexError, "row out of range of the digests");
            goto done;
        }
    size_t body = 4 + 1 + (25 + (size_t)tail.len) + 25 * (size_t)(n - 1);
    size_t msg = HSZ + 5 + body;
    res = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(8 + msg));
    if (!res) goto done;
    uint8_t *p = (uint8_t *)PyBytes_AS_STRING(res);
    uint64_t word = ((uint64_t)2 << 56) | ((uint64_t)3 << 48) | (uint64_t)msg;
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(word >> (56 - 8 * i));
    p += 8;
    memset(p, 0, HSZ);
    p[0] = HSZ; p[1] = (uint8_t)info1;
    put32(p + 14, (uint32_t)timeout_ms);
    put16(p + 18, 1);
    p += HSZ;
    put32(p, (uint32_t)(body + 1)); p[4] = 41; p += 5;
    put32(p, (uint32_t)n); p[4] = (uint8_t)pflags; p += 5;
    const uint8_t *d = dig.buf;
    put32(p, (uint32_t)r[0]); memcpy(p + 4, d + 20 * r[0], 20); p[24] = 0; p += 25;
    memcpy(p, tail.buf, (size_t)tail.len); p += tail.len;
    for (Py_ssize_t i = 1; i < n; i++) {
        put32(p, (uint32_t)r[i]); memcpy(p + 4, d + 20 * r[i], 20); p[24] = 1; p += 25;
    }
done:
    PyBuffer_Release(&tail);
    PyBuffer_Release(&dig);
    PyBuffer_Release(&rows);
    return res;
}

/* ------------------------------------------------------------------ plan */

/* F_VEC: a vector of floats (width 4 or 8, lo = size): a list of msgpack floats or a blob of
 * little-endian values. F_RAW: any other type (lists, maps, other vectors): the kernel only finds
 * the bin (particle type, offset into the joined answer, length) and the NumPy decoders read it. */
enum { F_INT = 1, F_TS, F_F64, F_F32, F_BOOL, F_STR, F_BYTES, F_VEC, F_RAW };
#define MAX_VECTOR (1 << 20)

typedef struct {
    int kind, slot, width, nullable;
    int64_t lo, hi;
} Field;

typedef struct {
    PyObject_HEAD
    int nbins, nfields;
    uint8_t names[64][16];
    int name_len[64];
    Field fields[64];
    int nfor[64];          /* per bin: how many fields read it */
    int8_t fof[64][64];    /* per bin: those fields */
} PlanObject;

static PyTypeObject PlanType;

/* Plan(bin_names: list[bytes], fields: list[(kind, slot, width, nullable, lo, hi)]) */
static int plan_init(PlanObject *self, PyObject *args, PyObject *kw) {
    PyObject *names, *fields;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &names, &PyList_Type, &fields)) return -1;
    Py_ssize_t nb = PyList_GET_SIZE(names), nf = PyList_GET_SIZE(fields);
    if (nb < 1 || nb > 64 || nf < 1 || nf > 64) { PyErr_SetString(PyExc_ValueError, "1..64 bins and fields"); return -1; }
    self->nbins = (int)nb; self->nfields = (int)nf;
    for (Py_ssize_t i = 0; i < nb; i++) {
        PyObject *b = PyList_GET_ITEM(names, i);
        if (!PyBytes_Check(b) || PyBytes_GET_SIZE(b) > 15) { PyErr_SetString(PyExc_ValueError, "bin names: bytes of at most 15"); return -1; }
        memset(self->names[i], 0, 16);
        memcpy(self->names[i], PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
        self->name_len[i] = (int)PyBytes_GET_SIZE(b);
    }
    for (Py_ssize_t i = 0; i < nf; i++) {
        Field *f = &self->fields[i];
        long long lo, hi;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(fields, i), "iiiiLL", &f->kind, &f->slot, &f->width, &f->nullable, &lo, &hi))
            return -1;
        f->lo = lo; f->hi = hi;
        if (f->kind < F_INT || f->kind > F_RAW || f->slot < 0 || f->slot >= nb ||
            (f->kind == F_INT && f->width != 1 && f->width != 2 && f->width != 4 && f->width != 8) ||
            (f->kind == F_VEC && ((f->width != 4 && f->width != 8) || f->lo < 1 || f->lo > MAX_VECTOR))) {
            PyErr_SetString(PyExc_ValueError, "bad field spec");
            return -1;
        }
    }
    memset(self->nfor, 0, sizeof(self->nfor));
    for (int f = 0; f < self->nfields; f++) {
        int s = self->fields[f].slot;
        self->fof[s][self->nfor[s]++] = (int8_t)f;
    }
    return 0;
}

static PyTypeObject PlanType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "aerodf.wire._kernel.Plan",
    .tp_basicsize = sizeof(PlanObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)plan_init,
    .tp_doc = "A schema's scalar fields compiled for the kernel's decoder.",
};

/* ------------------------------------------------------------------ batch (one call's answer) */

typedef struct { uint8_t *p; size_t len, cap; } Buf;  /* PyMem_Raw*: grown without the GIL */

static int buf_reserve(Buf *b, size_t more) {
    if (b->len + more <= b->cap) return 0;
    size_t cap = (b->len + more) * 2 + 1024;
    uint8_t *p = PyMem_RawRealloc(b->p, cap);
    if (!p) return -1;
    b->p = p; b->cap = cap;
    return 0;
}

static int buf_put(Buf *b, const uint8_t *src, size_t len) {
    if (buf_reserve(b, len) < 0) return -1;
    memcpy(b->p + b->len, src, len);
    b->len += len;
    return 0;
}

typedef struct {
    PyObject_HEAD
    PlanObject *plan;
    Py_ssize_t n;
    int64_t *codes, *heads;
    uint32_t *gens, *vts;
    uint8_t *state;       /* (fields, n): 0 absent, 1 value, 2 bad */
    uint8_t *values;      /* (fields, n * 8): fixed-width values; var: unused */
    int64_t *vstart, *vlen; /* (fields, n): var-length values in scratch; F_RAW: in joined */
    uint8_t *vec[64];     /* per F_VEC field: n * size * width bytes, row-major */
    uint8_t *scratch;
    size_t scratch_len, scratch_cap;
    Buf joined;           /* every payload decoded (after its carry): record heads point into it */
    Buf carry;            /* the start of a message cut by its frame's end */
    Buf rx;               /* bytes read from a socket, not yet a whole frame */
    int busy;
    /* scan mode (Batch.scan): rows are the frame's records in order, not the header's index */
    int scan;
    Py_ssize_t next_row;
    int64_t *dig_at, *key_at;  /* per row: offset of the digest / of the key field in joined, -1 */
    int refused;               /* the first result code other than 0, 2, 27 (the node's answer) */
    Buf unavail;               /* uint32 partition ids answered unavailable (partition-done markers) */
} BatchObject;

static PyTypeObject BatchType;

static void batch_dealloc(BatchObject *self) {
    PyMem_Free(self->codes); PyMem_Free(self->heads); PyMem_Free(self->gens); PyMem_Free(self->vts);
    PyMem_Free(self->state); PyMem_Free(self->values); PyMem_Free(self->vstart); PyMem_Free(self->vlen);
    PyMem_RawFree(self->scratch);
    for (int f = 0; f < 64; f++) PyMem_Free(self->vec[f]);
    PyMem_RawFree(self->joined.p); PyMem_RawFree(self->carry.p); PyMem_RawFree(self->rx.p);
    PyMem_Free(self->dig_at); PyMem_Free(self->key_at); PyMem_RawFree(self->unavail.p);
    Py_XDECREF(self->plan);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static void reset_row(BatchObject *b, Py_ssize_t r) {
    int nf = b->plan->nfields;
    b->codes[r] = -15; b->heads[r] = -1; b->gens[r] = 0; b->vts[r] = 0;
    for (int f = 0; f < nf; f++) b->state[(size_t)f * b->n + r] = 0;
}

/* Batch(plan, n): the answer buffers of an n-key call; every row starts "not answered" (-15). */
static int batch_init(BatchObject *self, PyObject *args, PyObject *kw) {
    PyObject *plan;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "O!n", &PlanType, &plan, &n)) return -1;
    if (n < 0 || self->plan) { PyErr_SetString(PyExc_ValueError, "bad batch size"); return -1; }
    Py_INCREF(plan);
    self->plan = (PlanObject *)plan;
    self->n = n;
    size_t m = n ? (size_t)n : 1, nf = (size_t)self->plan->nfields;
    self->codes = PyMem_Malloc(8 * m); self->heads = PyMem_Malloc(8 * m);
    self->gens = PyMem_Malloc(4 * m); self->vts = PyMem_Malloc(4 * m);
    self->state = PyMem_Calloc(nf * m, 1); self->values = PyMem_Calloc(nf * m, 8);
    self->vstart = PyMem_Calloc(nf * m, 8); self->vlen = PyMem_Calloc(nf * m, 8);
    if (!self->codes || !self->heads || !self->gens || !self->vts || !self->state || !self->values ||
        !self->vstart || !self->vlen) { PyErr_NoMemory(); return -1; }
    for (size_t f = 0; f < nf; f++) {
        Field *fd = &self->plan->fields[f];
        if (fd->kind != F_VEC) continue;
        self->vec[f] = PyMem_Calloc(m * (size_t)fd->lo, (size_t)fd->width);
        if (!self->vec[f]) { PyErr_NoMemory(); return -1; }
    }
    for (Py_ssize_t r = 0; r < n; r++) reset_row(self, r);
    return 0;
}

/* strict UTF-8 (what Python's decode and Arrow's validation accept) */
static int utf8_ok(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t k;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) { k = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { k = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { k = 3; cp = c & 0x07; }
        else return 0;
        if (n - i <= k) return 0;  /* the sequence runs past the value */
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* the walk's errors; the message names the byte */
enum { WK_OK = 0, WK_BAD = 1, WK_ROW = 2, WK_MEM = 3 };

typedef struct {
    Py_ssize_t consumed;
    int done, last_code, err;
    Py_ssize_t err_at;
    int64_t err_row;
} WalkResult;

static int scratch_put(BatchObject *b, const uint8_t *src, size_t len, int64_t *at) {
    if (b->scratch_len + len > b->scratch_cap) {
        size_t cap = (b->scratch_cap + len) * 2 + 256;
        uint8_t *s = PyMem_RawRealloc(b->scratch, cap);  /* raw: callable without the GIL */
        if (!s) return -1;
        b->scratch = s; b->scratch_cap = cap;
    }
    memcpy(b->scratch + b->scratch_len, src, len);
    *at = (int64_t)b->scratch_len;
    b->scratch_len += len;
    return 0;
}

static void decode_value(BatchObject *b, int f, Py_ssize_t r, int ptype, const uint8_t *v, uint64_t vlen, int *mem) {
    Field *fd = &b->plan->fields[f];
    size_t at = (size_t)f * b->n + r;
    uint8_t *st = &b->state[at];
    uint8_t *out = b->values + at * 8;
    switch (fd->kind) {
    case F_INT:
    case F_TS: {
        if (ptype != 1 || vlen != 8) { *st = 2; return; }
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) u = (u << 8) | v[i];
        int64_t x = (int64_t)u;
        if (fd->kind == F_INT && (x < fd->lo || x > fd->hi)) { *st = 2; return; }
        memcpy(out, &x, 8);  /* native int64; narrowed when the column is built */
        *st = 1;
        return;
    }
    case F_F64:
    case F_F32: {
        if (ptype != 2 || vlen != 8) { *st = 2; return; }
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) u = (u << 8) | v[i];
        double d;
        memcpy(&d, &u, 8);
        /* finite values that would round to infinity as float32 go to the exact path */
        if (fd->kind == F_F32 && isfinite(d) && fabs(d) >= 340282356779733661637539395458142568448.0) { *st = 2; return; }
        memcpy(out, &d, 8);
        *st = 1;
        return;
    }
    case F_BOOL:
        if (ptype != 17 || vlen != 1) { *st = 2; return; }
        out[0] = v[0] != 0;
        *st = 1;
        return;
    case F_STR:
    case F_BYTES: {
        if (ptype != (fd->kind == F_STR ? 3 : 4)) { *st = 2; return; }
        if (fd->kind == F_STR && !utf8_ok(v, (size_t)vlen)) { *st = 2; return; }
        int64_t where;
        if (scratch_put(b, v, (size_t)vlen, &where) < 0) { *mem = 1; return; }
        b->vstart[at] = where;
        b->vlen[at] = (int64_t)vlen;
        *st = 1;
        return;
    }
    case F_VEC: {
        size_t size = (size_t)fd->lo, w = (size_t)fd->width;
        uint8_t *dst = b->vec[f] + (size_t)r * size * w;
        if (ptype == 4) {  /* a blob of size little-endian values */
            if (vlen != size * w) { *st = 2; return; }
            for (size_t j = 0; j < size * w; j += w)  /* little-endian on any host */
                if (w == 8) { uint64_t u = 0; for (int k = 7; k >= 0; k--) u = (u << 8) | v[j + k]; memcpy(dst + j, &u, 8); }
                else { uint32_t u = 0; for (int k = 3; k >= 0; k--) u = (u << 8) | v[j + k]; memcpy(dst + j, &u, 4); }
            *st = 1;
            return;
        }
        if (ptype != 20 || vlen < 1) { *st = 2; return; }
        uint64_t count, p;
        uint8_t c = v[0];
        if (c >= 0x90 && c <= 0x9F) { count = c & 0x0F; p = 1; }
        else if (c == 0xDC && vlen >= 3) { count = get16(v + 1); p = 3; }
        else if (c == 0xDD && vlen >= 5) { count = get32(v + 1); p = 5; }
        else { *st = 2; return; }
        if (count != size) { *st = 2; return; }
        for (size_t j = 0; j < size; j++) {
            double d;
            if (p >= vlen) { *st = 2; return; }
            if (v[p] == 0xCB && p + 9 <= vlen) {
                uint64_t u = 0;
                for (int k = 1; k <= 8; k++) u = (u << 8) | v[p + k];
                memcpy(&d, &u, 8);
                p += 9;
            } else if (v[p] == 0xCA && p + 5 <= vlen) {
                uint32_t u = get32(v + p + 1);
                float x;
                memcpy(&x, &u, 4);
                d = x;
                p += 5;
            } else { *st = 2; return; }  /* an int, a nil, a nested value: the exact path */
            if (w == 4) {
                if (isfinite(d) && fabs(d) >= 340282356779733661637539395458142568448.0) { *st = 2; return; }
                float x = (float)d;
                memcpy(dst + 4 * j, &x, 4);
            } else memcpy(dst + 8 * j, &d, 8);
        }
        *st = 1;
        return;
    }
    case F_RAW:
        out[0] = (uint8_t)ptype;
        b->vstart[at] = (int64_t)(v - b->joined.p);  /* walks run over the joined store */
        b->vlen[at] = (int64_t)vlen;
        *st = 1;
        return;
    }
}

/* Walk the messages of buf[0:len]; heads are reported as base + offset. */
static void walk(BatchObject *b, const uint8_t *buf, Py_ssize_t len, int64_t base, WalkResult *w) {
    PlanObject *pl = b->plan;
    Py_ssize_t p = 0;
    w->done = 0; w->last_code = 0; w->err = WK_OK;
    while (p < len) {
        if (len - p < HSZ) break;  /* a message cut by the frame: the next frame holds the rest */
        const uint8_t *h = buf + p;
        if (h[0] != HSZ) { w->err = WK_BAD; w->err_at = p; break; }
        if (h[3] & INFO3_LAST) {
            /* the answer's end: a bare header, the frame's last bytes (as the NumPy path reads it) */
            if (get16(h + 18) || get16(h + 20) || len - p != HSZ) { w->err = WK_BAD; w->err_at = p; break; }
            w->done = 1; w->last_code = h[5]; p += HSZ;
            break;
        }
        uint16_t nf = get16(h + 18), nops = get16(h + 20);
        uint64_t q = (uint64_t)p + HSZ;
        int cut = 0;
        int64_t dig = -1, key = -1;
        for (uint16_t i = 0; i < nf; i++) {
            if (q + 4 > (uint64_t)len) { cut = 1; break; }
            uint64_t fsize = get32(buf + q);
            if (b->scan && fsize >= 1 && q + 4 + fsize <= (uint64_t)len) {
                uint8_t ft = buf[q + 4];
                if (ft == 4 && fsize == 21) dig = base + (int64_t)q + 5;  /* the digest */
                else if (ft == 2 && fsize >= 2) key = base + (int64_t)q;   /* the user key field */
            }
            q += 4 + fsize;
        }
        Py_ssize_t ops_at = (Py_ssize_t)q;
        if (!cut) {
            for (uint16_t i = 0; i < nops; i++) {
                if (q + 4 > (uint64_t)len) { cut = 1; break; }
                uint64_t size = get32(buf + q);
                if (size < 4) { w->err = WK_BAD; w->err_at = (Py_ssize_t)q; break; }
                q += 4 + size;
            }
        }
        if (w->err) break;
        if (cut || q > (uint64_t)len) break;  /* incomplete: wait for more bytes */
        Py_ssize_t row;
        if (b->scan) {
            if (h[3] & INFO3_PARTITION_DONE) {  /* a marker: the partition (in the generation) is done */
                if (h[5]) {
                    uint8_t pid[4];
                    put32(pid, get32(h + 6));
                    if (buf_put(&b->unavail, pid, 4) < 0) { w->err = WK_MEM; break; }
                }
                p = (Py_ssize_t)q;
                continue;
            }
            if (h[5]) {  /* NOT_FOUND / FILTERED_OUT: not a record; anything else: the node's answer */
                if (h[5] != 2 && h[5] != 27 && !b->refused) b->refused = h[5];
                p = (Py_ssize_t)q;
                continue;
            }
            row = b->next_row;
            if (row >= b->n) { w->err = WK_ROW; w->err_row = row; w->err_at = p; break; }
            b->next_row++;
            b->dig_at[row] = dig;
            b->key_at[row] = key;
        } else {
            row = get32(h + 14);
            if (row >= b->n) { w->err = WK_ROW; w->err_row = row; w->err_at = p; break; }
        }
        reset_row(b, row);  /* a later answer for a row wins */
        b->codes[row] = h[5];
        b->heads[row] = base + p;
        if (h[5] == 0) {
            b->gens[row] = get32(h + 6);
            b->vts[row] = get32(h + 10);
            uint64_t o = (uint64_t)ops_at;
            int mem = 0;
            for (uint16_t i = 0; i < nops; i++) {
                const uint8_t *op = buf + o;
                uint64_t size = get32(op);
                uint64_t nl = op[7];
                if (nl > size - 4) { w->err = WK_BAD; w->err_at = (Py_ssize_t)o; break; }  /* name past its op */
                const uint8_t *name = op + 8;
                /* servers answer bins in request order: try the bin at this op's position first */
                int s = i < pl->nbins && (uint64_t)pl->name_len[i] == nl && !memcmp(pl->names[i], name, nl) ? i : -1;
                for (int t = 0; s < 0 && t < pl->nbins; t++)
                    if ((uint64_t)pl->name_len[t] == nl && !memcmp(pl->names[t], name, nl)) s = t;
                for (int k = 0; s >= 0 && k < pl->nfor[s]; k++)
                    decode_value(b, pl->fof[s][k], row, op[5], op + 8 + nl, size - 4 - nl, &mem);
                o += 4 + size;
            }
            if (mem) { w->err = WK_MEM; break; }
            if (w->err) break;
        }
        p = (Py_ssize_t)q;
    }
    w->consumed = p;
}

/* One frame's payload into the batch: after the carried start of a cut message, appended to
 * the joined store and walked there. 0: more frames to come; 1: LAST read; -1: an error in w. */
static int take_payload(BatchObject *b, const uint8_t *payload, size_t len, WalkResult *w) {
    size_t base = b->joined.len;
    w->err = WK_OK; w->done = 0;
    if (buf_reserve(&b->joined, b->carry.len + len) < 0) { w->err = WK_MEM; return -1; }
    memcpy(b->joined.p + base, b->carry.p, b->carry.len);
    memcpy(b->joined.p + base + b->carry.len, payload, len);
    size_t total = b->carry.len + len;
    b->joined.len += total;
    b->carry.len = 0;
    walk(b, b->joined.p + base, (Py_ssize_t)total, (int64_t)base, w);
    if (w->err) return -1;
    if (w->done) return 1;
    if (buf_put(&b->carry, b->joined.p + base + w->consumed, total - (size_t)w->consumed) < 0) {
        w->err = WK_MEM; return -1;
    }
    return 0;
}

static PyObject *walk_error(WalkResult *w) {
    if (w->err == WK_BAD) return PyErr_Format(PyExc_ValueError, "bad message at byte %zd", w->err_at);
    if (w->err == WK_ROW) return PyErr_Format(PyExc_IndexError, "%lld", (long long)w->err_row);
    return PyErr_NoMemory();
}

/* take_payload of a caller's buffer, with the batch marked busy; a big payload is walked
 * without the GIL (a small one keeps it: the hand-off would cost more than the walk). */
static int take_buffer(BatchObject *self, Py_buffer *buf, WalkResult *w) {
    int r;
    self->busy = 1;
    if (buf->len >= NOGIL_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        r = take_payload(self, buf->buf, (size_t)buf->len, w);
        Py_END_ALLOW_THREADS
    } else {
        r = take_payload(self, buf->buf, (size_t)buf->len, w);
    }
    self->busy = 0;
    return r;
}

/* start(): a new answer begins (no carried bytes). feed(payload) -> (done, last_code). */
static PyObject *batch_start(BatchObject *self, PyObject *noargs) {
    self->carry.len = 0;
    Py_RETURN_NONE;
}

static PyObject *batch_feed(BatchObject *self, PyObject *args) {
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "y*", &buf)) return NULL;
    if (self->busy) { PyBuffer_Release(&buf); PyErr_SetString(PyExc_RuntimeError, "batch in use by another thread"); return NULL; }
    WalkResult w;
    int r = take_buffer(self, &buf, &w);
    PyBuffer_Release(&buf);
    if (r < 0) return walk_error(&w);
    return Py_BuildValue("ii", r == 1, w.last_code);
}

/* ------------------------------------------------------------------ scans */

static PyObject *bytes_of(const void *p, size_t n);

/* The records of a scan frame (result code 0, not a partition-done marker, before LAST);
 * -1 when the frame is not a run of whole messages (the NumPy path then reads it). */
static Py_ssize_t count_scan(const uint8_t *buf, Py_ssize_t len) {
    Py_ssize_t p = 0, rows = 0;
    while (p < len) {
        if (len - p < HSZ) return -1;
        const uint8_t *h = buf + p;
        if (h[0] != HSZ) return -1;
        if (h[3] & INFO3_LAST) return rows;
        uint64_t q = (uint64_t)p + HSZ;
        uint16_t nf = get16(h + 18), nops = get16(h + 20);
        for (uint32_t i = 0; i < (uint32_t)nf + nops; i++) {
            if (q + 4 > (uint64_t)len) return -1;
            uint64_t size = get32(buf + q);
            if (i >= nf && size < 4) return -1;
            q += 4 + size;
        }
        if (q > (uint64_t)len) return -1;
        if (!(h[3] & INFO3_PARTITION_DONE) && h[5] == 0) rows++;
        p = (Py_ssize_t)q;
    }
    return rows;
}

static PyObject *k_scan_rows(PyObject *self, PyObject *args) {
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "y*", &buf)) return NULL;
    Py_ssize_t n = count_scan(buf.buf, buf.len);
    PyBuffer_Release(&buf);
    return PyLong_FromSsize_t(n);
}

/* scan(payload) -> (rows, done, last_code, refused, unavailable, resume, key_at): one whole scan
 * frame into a batch of scan_rows(payload) rows, record after record. unavailable: big-endian
 * uint32 partition ids; resume: {partition id: digest of its last record here}; key_at: int64
 * per row, the offset of its key field in joined (-1: none). */
static PyObject *batch_scan(BatchObject *self, PyObject *args) {
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "y*", &buf)) return NULL;
    if (self->busy || (self->scan && self->next_row)) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_RuntimeError, "a scan batch takes one frame");
        return NULL;
    }
    if (!self->scan) {
        size_t m = self->n ? (size_t)self->n : 1;
        self->dig_at = PyMem_Malloc(8 * m); self->key_at = PyMem_Malloc(8 * m);
        if (!self->dig_at || !self->key_at) { PyBuffer_Release(&buf); return PyErr_NoMemory(); }
        self->scan = 1;
    }
    WalkResult w;
    int r = take_buffer(self, &buf, &w);
    PyBuffer_Release(&buf);
    if (r < 0) return walk_error(&w);
    if (self->carry.len) return PyErr_Format(PyExc_ValueError, "a message cut by the frame's end");
    /* where each partition resumes: the digest of its last record in this frame */
    PyObject *resume = PyDict_New();
    if (!resume) return NULL;
    for (Py_ssize_t row = 0; row < self->next_row; row++) {
        int64_t at = self->dig_at[row];
        if (at < 0) continue;
        const uint8_t *d = self->joined.p + at;
        PyObject *pid = PyLong_FromLong((long)((d[0] | (d[1] << 8)) & 4095));
        PyObject *dig = PyBytes_FromStringAndSize((const char *)d, 20);
        int bad = !pid || !dig || PyDict_SetItem(resume, pid, dig) < 0;
        Py_XDECREF(pid); Py_XDECREF(dig);
        if (bad) { Py_DECREF(resume); return NULL; }
    }
    return Py_BuildValue("niiiNNN", self->next_row, r == 1, w.last_code, self->refused,
                         bytes_of(self->unavail.p, self->unavail.len), resume,
                         bytes_of(self->key_at, 8 * (size_t)self->next_row));
}

/* ------------------------------------------------------------------ exchange: sockets without the GIL */

enum { X_DONE = 0, X_TIMEOUT = 1, X_IO = 2, X_SEND = 3 };
enum { IO_CLOSED = 1, IO_ERRNO, IO_VERSION, IO_TYPE, IO_SIZE, IO_NOT_DATA, IO_WALK, IO_EXTRA };

typedef struct {
    int fd;
    Py_buffer req;
    int status, io, err, last_code;
    long long detail;   /* frame type / size / version, or errno */
    WalkResult w;
    Py_ssize_t leftover; /* on a timeout: bytes of the unfinished frame, at the start of rx */
} Exchange;

/* wait for fd (POLLIN / POLLOUT): 1 ready, 0 timed out, -1 error (errno) */
static int wait_fd(int fd, short ev, int timeout_ms) {
    struct pollfd pfd = {fd, ev, 0};
    int r;
    do { r = poll(&pfd, 1, timeout_ms > 0 ? timeout_ms : -1); } while (r < 0 && errno == EINTR);
    return r;
}

static void send_all(Exchange *x, int timeout_ms) {
    const uint8_t *p = x->req.buf;
    size_t left = (size_t)x->req.len;
    while (left) {
        ssize_t k = send(x->fd, p, left, MSG_NOSIGNAL);
        if (k > 0) { p += k; left -= (size_t)k; continue; }
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int r = wait_fd(x->fd, POLLOUT, timeout_ms);
            if (r > 0) continue;
            x->status = X_SEND; x->detail = r == 0 ? -1 : errno;  /* -1: timed out */
            return;
        }
        x->status = X_SEND; x->detail = errno;
        return;
    }
}

/* read more bytes into rx: >0 read, 0 closed, -1 errno, -2 timed out */
static int recv_some(int fd, Buf *rx, int timeout_ms) {
    if (buf_reserve(rx, 1 << 16) < 0) { errno = ENOMEM; return -1; }
    while (1) {
        ssize_t k = recv(fd, rx->p + rx->len, rx->cap - rx->len, 0);
        if (k > 0) { rx->len += (size_t)k; return 1; }
        if (k == 0) return 0;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int r = wait_fd(fd, POLLIN, timeout_ms);
            if (r > 0) continue;
            return r == 0 ? -2 : -1;
        }
        return -1;
    }
}

static void recv_answer(BatchObject *b, Exchange *x, int timeout_ms) {
    Buf *rx = &b->rx;
    rx->len = 0;
    b->carry.len = 0;
    while (1) {
        uint64_t length = 0;
        int have_header = rx->len >= 8;
        if (have_header) {
            const uint8_t *h = rx->p;
            for (int i = 2; i < 8; i++) length = (length << 8) | h[i];
            if (h[0] != 2) { x->status = X_IO; x->io = IO_VERSION; x->detail = h[0]; return; }
            if (h[1] < 1 || h[1] > 4) { x->status = X_IO; x->io = IO_TYPE; x->detail = h[1]; return; }
            if (length > 128u * 1024 * 1024) { x->status = X_IO; x->io = IO_SIZE; x->detail = (long long)length; return; }
            if (h[1] != 3) { x->status = X_IO; x->io = IO_NOT_DATA; x->detail = h[1]; return; }
        }
        if (!have_header || rx->len < 8 + length) {
            int r = recv_some(x->fd, rx, timeout_ms);
            if (r > 0) continue;
            if (r == -2) { x->status = X_TIMEOUT; x->leftover = (Py_ssize_t)rx->len; return; }
            x->status = X_IO;
            if (r == 0) x->io = IO_CLOSED; else { x->io = IO_ERRNO; x->detail = errno; }
            return;
        }
        int t = take_payload(b, rx->p + 8, (size_t)length, &x->w);
        size_t rest = rx->len - 8 - (size_t)length;
        memmove(rx->p, rx->p + 8 + length, rest);
        rx->len = rest;
        if (t < 0) { x->status = X_IO; x->io = IO_WALK; return; }
        if (t == 1) {
            x->status = X_DONE; x->last_code = x->w.last_code;
            if (rest) { x->status = X_IO; x->io = IO_EXTRA; }  /* bytes after the answer: not this request's */
            return;
        }
    }
}

/* exchange(fds, requests, timeout_ms) -> one outcome per connection. Every request is sent,
 * then every answer read and decoded into the batch, all without the GIL (the caller owns the
 * sockets and keeps them open meanwhile). Outcomes: (0, last_code) | (1, leftover bytes) timed out
 * | (2, kind, detail) the answer broke | (3, errno or -1 for timed out) sending failed. */
static PyObject *batch_exchange(BatchObject *self, PyObject *args) {
    PyObject *fds, *reqs;
    int timeout_ms;
    if (!PyArg_ParseTuple(args, "O!O!i", &PyList_Type, &fds, &PyList_Type, &reqs, &timeout_ms)) return NULL;
    Py_ssize_t m = PyList_GET_SIZE(fds);
    if (m != PyList_GET_SIZE(reqs)) { PyErr_SetString(PyExc_ValueError, "one request per connection"); return NULL; }
    if (self->busy) { PyErr_SetString(PyExc_RuntimeError, "batch in use by another thread"); return NULL; }
    Exchange *xs = PyMem_Calloc((size_t)(m ? m : 1), sizeof(Exchange));
    if (!xs) return PyErr_NoMemory();
    PyObject *out = NULL;
    Py_ssize_t got = 0;
    for (; got < m; got++) {
        xs[got].fd = (int)PyLong_AsLong(PyList_GET_ITEM(fds, got));
        if (PyErr_Occurred() || PyObject_GetBuffer(PyList_GET_ITEM(reqs, got), &xs[got].req, PyBUF_SIMPLE) < 0) goto done;
    }
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < m; i++) send_all(&xs[i], timeout_ms);
    for (Py_ssize_t i = 0; i < m; i++)
        if (xs[i].status != X_SEND) recv_answer(self, &xs[i], timeout_ms);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    out = PyList_New(m);
    if (!out) goto done;
    for (Py_ssize_t i = 0; i < m; i++) {
        Exchange *x = &xs[i];
        PyObject *item;
        if (x->status == X_DONE) item = Py_BuildValue("ii", X_DONE, x->last_code);
        else if (x->status == X_TIMEOUT) item = Py_BuildValue("iy#", X_TIMEOUT, (const char *)self->rx.p, x->leftover);
        else if (x->status == X_SEND) item = Py_BuildValue("iL", X_SEND, x->detail);
        else if (x->io == IO_WALK) {
            if (x->w.err == WK_BAD) item = Py_BuildValue("iiL", X_IO, IO_WALK, (long long)x->w.err_at);
            else if (x->w.err == WK_ROW) item = Py_BuildValue("iiL", X_IO, -IO_WALK, (long long)x->w.err_row);
            else item = Py_BuildValue("iiL", X_IO, IO_ERRNO, (long long)ENOMEM);
        } else item = Py_BuildValue("iiL", X_IO, x->io, x->detail);
        if (!item) { Py_CLEAR(out); goto done; }
        PyList_SET_ITEM(out, i, item);
    }
done:
    for (Py_ssize_t i = 0; i < got; i++) PyBuffer_Release(&xs[i].req);
    PyMem_Free(xs);
    return out;
}

static PyObject *batch_joined(BatchObject *self, PyObject *noargs) {
    return PyBytes_FromStringAndSize((const char *)self->joined.p, (Py_ssize_t)self->joined.len);
}

/* forget(rows: int64 buffer): rows of an answer that failed go back to "not answered" */
static PyObject *batch_forget(BatchObject *self, PyObject *args) {
    Py_buffer rows;
    if (!PyArg_ParseTuple(args, "y*", &rows)) return NULL;
    const int64_t *r = rows.buf;
    for (Py_ssize_t i = 0; i < rows.len / 8; i++)
        if (r[i] >= 0 && r[i] < self->n) reset_row(self, r[i]);
    PyBuffer_Release(&rows);
    Py_RETURN_NONE;
}

static PyObject *bytes_of(const void *p, size_t n) { return PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)n); }

/* finish(now) -> (codes, gens, ttls, heads, any_bad, columns): row-ordered buffers (bytes).
 * ttl: seconds left from `now` (seconds since 2010), -1 = never expires; gens/ttls only for
 * found rows. columns: per field (values, validity bitmap or None, null_count, bad mask or None)
 * and for strings/bytes (offsets, data, validity, null_count, bad, large offsets). */
static PyObject *batch_finish(BatchObject *self, PyObject *args) {
    long long now;
    if (!PyArg_ParseTuple(args, "L", &now)) return NULL;
    Py_ssize_t n = self->n;
    size_t m = n ? (size_t)n : 1;
    PlanObject *pl = self->plan;
    PyObject *codes = NULL, *gens = NULL, *ttls = NULL, *heads = NULL, *cols = NULL, *res = NULL;
    int any_bad = 0;
    uint32_t *g = PyMem_Malloc(4 * m);
    int64_t *t = PyMem_Malloc(8 * m), *hd = PyMem_Malloc(8 * m);
    if (!g || !t || !hd) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t r = 0; r < n; r++) {
        int found = self->codes[r] == 0;
        g[r] = found ? self->gens[r] : 0;
        int64_t vt = self->vts[r];
        t[r] = !found ? 0 : vt == 0 ? -1 : vt > now ? vt - now : 1;
        hd[r] = found ? self->heads[r] : -1;
    }
    codes = bytes_of(self->codes, 8 * (size_t)n); gens = bytes_of(g, 4 * (size_t)n);
    ttls = bytes_of(t, 8 * (size_t)n); heads = bytes_of(hd, 8 * (size_t)n);
    cols = PyList_New(pl->nfields);
    if (!codes || !gens || !ttls || !heads || !cols) goto done;
    size_t nbits = ((size_t)n + 7) / 8;
    for (int f = 0; f < pl->nfields; f++) {
        Field *fd = &pl->fields[f];
        uint8_t *st = self->state + (size_t)f * n;
        PyObject *bad = NULL, *valid = NULL, *item = NULL;
        Py_ssize_t nulls = 0, nbad = 0;
        for (Py_ssize_t r = 0; r < n; r++) {
            if (st[r] == 0 && !fd->nullable && self->codes[r] == 0) st[r] = 2;  /* found without its bin */
            nulls += st[r] != 1;
            nbad += st[r] == 2;
        }
        if (nbad) {
            bad = PyBytes_FromStringAndSize(NULL, n);
            if (!bad) goto done;
            uint8_t *bp = (uint8_t *)PyBytes_AS_STRING(bad);
            for (Py_ssize_t r = 0; r < n; r++) bp[r] = st[r] == 2;
            any_bad = 1;
        } else { bad = Py_None; Py_INCREF(bad); }
        if (nulls) {
            valid = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)nbits);
            if (!valid) { Py_DECREF(bad); goto done; }
            uint8_t *vp = (uint8_t *)PyBytes_AS_STRING(valid);
            memset(vp, 0, nbits);
            for (Py_ssize_t r = 0; r < n; r++) if (st[r] == 1) vp[r >> 3] |= (uint8_t)(1 << (r & 7));
        } else { valid = Py_None; Py_INCREF(valid); }
        const uint8_t *vals = self->values + (size_t)f * n * 8;
        if (fd->kind == F_RAW) {  /* (ptype, offset into joined, length, state) per row */
            PyObject *pt = PyBytes_FromStringAndSize(NULL, n), *st_b = bytes_of(st, (size_t)n);
            PyObject *vs = bytes_of(self->vstart + (size_t)f * n, 8 * (size_t)n);
            PyObject *vl = bytes_of(self->vlen + (size_t)f * n, 8 * (size_t)n);
            Py_DECREF(bad); Py_DECREF(valid);
            if (!pt || !st_b || !vs || !vl) { Py_XDECREF(pt); Py_XDECREF(st_b); Py_XDECREF(vs); Py_XDECREF(vl); goto done; }
            uint8_t *pp = (uint8_t *)PyBytes_AS_STRING(pt);
            for (Py_ssize_t r = 0; r < n; r++) pp[r] = st[r] == 1 ? vals[8 * (size_t)r] : 0;
            item = Py_BuildValue("NNNN", pt, vs, vl, st_b);
        } else if (fd->kind == F_VEC) {
            size_t row = (size_t)fd->lo * (size_t)fd->width;
            for (Py_ssize_t r = 0; r < n; r++)  /* zeros under nulls, as the NumPy path writes */
                if (st[r] != 1) memset(self->vec[f] + (size_t)r * row, 0, row);
            PyObject *v = bytes_of(self->vec[f], row * (size_t)n);
            if (!v) { Py_DECREF(bad); Py_DECREF(valid); goto done; }
            item = Py_BuildValue("NNnN", v, valid, nulls, bad);
        } else if (fd->kind == F_STR || fd->kind == F_BYTES) {
            const int64_t *vs = self->vstart + (size_t)f * n, *vl = self->vlen + (size_t)f * n;
            int64_t total = 0;
            for (Py_ssize_t r = 0; r < n; r++) if (st[r] == 1) total += vl[r];
            int large = total >= ((int64_t)1 << 31);
            PyObject *offs = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(((size_t)n + 1) * (large ? 8 : 4)));
            PyObject *data = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
            if (!offs || !data) { Py_XDECREF(offs); Py_XDECREF(data); Py_DECREF(bad); Py_DECREF(valid); goto done; }
            uint8_t *op = (uint8_t *)PyBytes_AS_STRING(offs), *dp = (uint8_t *)PyBytes_AS_STRING(data);
            int64_t pos = 0;
            for (Py_ssize_t r = 0; r <= n; r++) {
                if (large) { memcpy(op + 8 * r, &pos, 8); }
                else { int32_t p32 = (int32_t)pos; memcpy(op + 4 * r, &p32, 4); }
                if (r < n && st[r] == 1) { memcpy(dp + pos, self->scratch + vs[r], (size_t)vl[r]); pos += vl[r]; }
            }
            item = Py_BuildValue("NNNnNi", offs, data, valid, nulls, bad, large);
        } else {
            int w = fd->kind == F_INT ? fd->width : fd->kind == F_F32 ? 4 : fd->kind == F_BOOL ? 0 : 8;
            PyObject *v = PyBytes_FromStringAndSize(NULL, w ? (Py_ssize_t)(w * (size_t)n) : (Py_ssize_t)nbits);
            if (!v) { Py_DECREF(bad); Py_DECREF(valid); goto done; }
            uint8_t *vp = (uint8_t *)PyBytes_AS_STRING(v);
            if (!w) memset(vp, 0, nbits);
            for (Py_ssize_t r = 0; r < n; r++) {
                const uint8_t *src = vals + 8 * (size_t)r;
                int ok = st[r] == 1;
                if (fd->kind == F_BOOL) { if (ok && src[0]) vp[r >> 3] |= (uint8_t)(1 << (r & 7)); }
                else if (fd->kind == F_F32) { double d; memcpy(&d, src, 8); float x = ok ? (float)d : 0.0f; memcpy(vp + 4 * r, &x, 4); }
                else if (w == 8) { if (ok) memcpy(vp + 8 * r, src, 8); else memset(vp + 8 * r, 0, 8); }
                else {
                    int64_t x; memcpy(&x, src, 8);
                    if (!ok) x = 0;
                    if (w == 1) { uint8_t y = (uint8_t)x; vp[r] = y; }
                    else if (w == 2) { uint16_t y = (uint16_t)x; memcpy(vp + 2 * r, &y, 2); }
                    else { uint32_t y = (uint32_t)x; memcpy(vp + 4 * r, &y, 4); }
                }
            }
            item = Py_BuildValue("NNnN", v, valid, nulls, bad);
        }
        if (!item) goto done;
        PyList_SET_ITEM(cols, f, item);
    }
    res = Py_BuildValue("NNNNiN", codes, gens, ttls, heads, any_bad, cols);
    codes = gens = ttls = heads = cols = NULL;
done:
    Py_XDECREF(codes); Py_XDECREF(gens); Py_XDECREF(ttls); Py_XDECREF(heads); Py_XDECREF(cols);
    PyMem_Free(g); PyMem_Free(t); PyMem_Free(hd);
    return res;
}

static PyObject *batch_codes(BatchObject *self, PyObject *noargs) {
    return bytes_of(self->codes, 8 * (size_t)self->n);
}

static PyMethodDef batch_methods[] = {
    {"start", (PyCFunction)batch_start, METH_NOARGS, "start(): a new answer begins"},
    {"feed", (PyCFunction)batch_feed, METH_VARARGS, "feed(payload) -> (done, last_code)"},
    {"exchange", (PyCFunction)batch_exchange, METH_VARARGS, "exchange(fds, requests, timeout_ms) -> outcomes"},
    {"joined", (PyCFunction)batch_joined, METH_NOARGS, "every payload decoded, joined (record heads index it)"},
    {"forget", (PyCFunction)batch_forget, METH_VARARGS, "forget(rows): rows back to 'not answered'"},
    {"finish", (PyCFunction)batch_finish, METH_VARARGS, "finish(now) -> (codes, gens, ttls, heads, any_bad, columns)"},
    {"codes", (PyCFunction)batch_codes, METH_NOARGS, "the per-row result codes so far (int64 bytes)"},
    {"scan", (PyCFunction)batch_scan, METH_VARARGS, "scan(payload) -> (rows, done, last_code, refused, unavailable, resume, key_at)"},
    {NULL}};

static PyTypeObject BatchType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "aerodf.wire._kernel.Batch",
    .tp_basicsize = sizeof(BatchObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)batch_init,
    .tp_dealloc = (destructor)batch_dealloc,
    .tp_methods = batch_methods,
    .tp_doc = "One call's answer: row-ordered column buffers filled frame by frame.",
};

static PyMethodDef methods[] = {
    {"digests", k_digests, METH_VARARGS, "digests(set, keys) -> bytes (20 per key) or the index of a key it leaves"},
    {"scan_rows", k_scan_rows, METH_VARARGS, "scan_rows(payload) -> records in a scan frame, or -1"},
    {"encode", k_encode, METH_VARARGS, "encode(first_tail, digests, rows, parent_flags, info1, timeout_ms) -> frame"},
    {NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernel", "aerodf's compiled wire kernel.", -1, methods};

PyMODINIT_FUNC PyInit__kernel(void) {
    if (PyType_Ready(&PlanType) < 0 || PyType_Ready(&BatchType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&PlanType);
    Py_INCREF(&BatchType);
    if (PyModule_AddObject(m, "Plan", (PyObject *)&PlanType) < 0 ||
        PyModule_AddObject(m, "Batch", (PyObject *)&BatchType) < 0) return NULL;
    PyModule_AddIntConstant(m, "NOGIL_BYTES", NOGIL_BYTES);
    PyModule_AddIntConstant(m, "NOGIL_KEYS", NOGIL_KEYS);
    return m;
}
