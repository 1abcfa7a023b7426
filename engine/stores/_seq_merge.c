/* The rare-words intersection of Memory search in C: flowdeck.engine.stores._seq_merge.
 *
 * Why: when keys holding every query word are rare, WordIndex.rank intersects the
 * words' posting lists. Intersecting Python sets touches a hash table per word that is
 * cold and scattered in memory (one cache miss per probe: ~20 us for two lists of 240
 * keys at 100k entries); the same lists as sorted arrays of 8-byte sequence numbers are
 * a few contiguous cache lines each, read in order. word_index.py's _common_py is the
 * same function in Python and the fallback where this file could not be compiled;
 * tests/unit/test_word_index.py checks that the two agree.
 *
 * common(arrays) -> list[int]: the values found in every one of ``arrays`` (a list of
 * 1 to 64 buffers of signed 64-bit integers, format "q", each strictly increasing),
 * ascending. TypeError for anything else. Each value of the shortest array is looked
 * up in the others by galloping from where the last lookup ended, so unequal lengths
 * cost O(short * log(long / short)) and equal lengths a linear merge.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define MAX_ARRAYS 64

typedef struct {
    const long long *v;
    Py_ssize_t n;
    Py_ssize_t at; /* first index not yet known to be < the value looked up */
} run_t;

/* The first index i >= r->at with r->v[i] >= x, or r->n: gallop, then bisect. */
static Py_ssize_t
seek(run_t *r, long long x)
{
    Py_ssize_t lo = r->at, step = 1, hi;
    if (lo >= r->n || r->v[lo] >= x) {
        return lo;
    }
    /* invariant: v[lo] < x */
    for (;;) {
        hi = lo + step;
        if (hi >= r->n) {
            hi = r->n;
            break;
        }
        if (r->v[hi] >= x) {
            break;
        }
        lo = hi;
        step <<= 1;
    }
    /* v[lo] < x, and hi == n or v[hi] >= x */
    while (hi - lo > 1) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (r->v[mid] >= x) {
            hi = mid;
        }
        else {
            lo = mid;
        }
    }
    return hi;
}

static PyObject *
common(PyObject *module, PyObject *arrays)
{
    (void)module;
    if (!PyList_CheckExact(arrays)) {
        PyErr_SetString(PyExc_TypeError, "common() takes a list of int64 arrays");
        return NULL;
    }
    Py_ssize_t k = PyList_GET_SIZE(arrays);
    if (k < 1 || k > MAX_ARRAYS) {
        PyErr_Format(PyExc_TypeError, "common() takes 1 to %d arrays, got %zd", MAX_ARRAYS, k);
        return NULL;
    }
    Py_buffer views[MAX_ARRAYS];
    run_t runs[MAX_ARRAYS];
    Py_ssize_t got = 0;
    PyObject *out = NULL;
    for (; got < k; got++) {
        PyObject *a = PyList_GET_ITEM(arrays, got);
        if (PyObject_GetBuffer(a, &views[got], PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
            goto done;
        }
        const char *f = views[got].format;
        if (views[got].itemsize != 8 || f == NULL || strcmp(f, "q") != 0) {
            PyBuffer_Release(&views[got]);
            PyErr_SetString(PyExc_TypeError, "common() takes arrays of format 'q'");
            goto done;
        }
        runs[got].v = (const long long *)views[got].buf;
        runs[got].n = views[got].len / 8;
        runs[got].at = 0;
    }
    /* the shortest array drives the lookups */
    Py_ssize_t s = 0;
    for (Py_ssize_t i = 1; i < k; i++) {
        if (runs[i].n < runs[s].n) {
            s = i;
        }
    }
    out = PyList_New(0);
    if (out == NULL) {
        goto done;
    }
    const run_t *drive = &runs[s];
    for (Py_ssize_t i = 0; i < drive->n; i++) {
        long long x = drive->v[i];
        int everywhere = 1;
        for (Py_ssize_t j = 0; j < k; j++) {
            if (j == s) {
                continue;
            }
            Py_ssize_t at = seek(&runs[j], x);
            runs[j].at = at;
            if (at >= runs[j].n) {
                goto done; /* one array is used up: nothing further is common */
            }
            if (runs[j].v[at] != x) {
                everywhere = 0;
                break;
            }
        }
        if (everywhere) {
            PyObject *n = PyLong_FromLongLong(x);
            if (n == NULL || PyList_Append(out, n) < 0) {
                Py_XDECREF(n);
                Py_CLEAR(out);
                goto done;
            }
            Py_DECREF(n);
        }
    }
done:
    for (Py_ssize_t i = 0; i < got; i++) {
        PyBuffer_Release(&views[i]);
    }
    return out;
}

static PyMethodDef methods[] = {
    {"common", common, METH_O,
     "common(arrays) -> list[int]: the values in every one of the sorted int64 arrays."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_seq_merge", "Sorted int64 array intersection for Memory search.",
    -1, methods,
};

PyMODINIT_FUNC
PyInit__seq_merge(void)
{
    return PyModule_Create(&module_def);
}
