/* The chat-messages key in C: flowdeck.engine.stores._chat_pairs.pairs.
 *
 * Why: on an L1 hit of a chat request, reading the role / content strs of each message
 * in a Python loop is most of the hit (about 1 us for four messages, against ~0.1 us
 * here). The function is exactly engine/stores/keys.py's _pairs_py, which stays as the
 * fallback where this file could not be compiled; tests/unit/test_keys_c.py checks that
 * the two agree on every input.
 *
 * pairs(items) -> tuple | None: for a list (exactly list) of at most 256 dicts (exactly
 * dict) of two keys, where both keys and both values are exactly str, one flat tuple of
 * 4 * len(items) strs, each dict's two (key, value) pairs ordered by key (code point
 * order, as Python's < on str); None for any other input.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define MAX_ITEMS 256

static PyObject *
pairs(PyObject *module, PyObject *items)
{
    (void)module;
    if (!PyList_CheckExact(items) || PyList_GET_SIZE(items) > MAX_ITEMS) {
        Py_RETURN_NONE;
    }
    Py_ssize_t n = PyList_GET_SIZE(items);
    PyObject *out = PyTuple_New(4 * n);
    if (out == NULL) {
        return NULL;
    }
    /* No Python code runs below (exact types only), so neither the list nor the dicts
     * can change under the loop; the references read are borrowed, then owned by out. */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        if (!PyDict_CheckExact(item) || PyDict_GET_SIZE(item) != 2) {
            goto other_shape;
        }
        Py_ssize_t pos = 0;
        PyObject *k1, *v1, *k2, *v2;
        if (!PyDict_Next(item, &pos, &k1, &v1) || !PyDict_Next(item, &pos, &k2, &v2)) {
            goto other_shape;
        }
        if (!PyUnicode_CheckExact(k1) || !PyUnicode_CheckExact(v1)
            || !PyUnicode_CheckExact(k2) || !PyUnicode_CheckExact(v2)) {
            goto other_shape;
        }
        int order = PyUnicode_Compare(k1, k2);
        if (order == -1 && PyErr_Occurred()) {
            Py_DECREF(out);
            return NULL;
        }
        if (order > 0) { /* keys are unique, so never 0 */
            PyObject *k = k1, *v = v1;
            k1 = k2;
            v1 = v2;
            k2 = k;
            v2 = v;
        }
        Py_INCREF(k1);
        PyTuple_SET_ITEM(out, 4 * i, k1);
        Py_INCREF(v1);
        PyTuple_SET_ITEM(out, 4 * i + 1, v1);
        Py_INCREF(k2);
        PyTuple_SET_ITEM(out, 4 * i + 2, k2);
        Py_INCREF(v2);
        PyTuple_SET_ITEM(out, 4 * i + 3, v2);
    }
    return out;
other_shape:
    Py_DECREF(out); /* a tuple not yet filled frees only the slots it has */
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"pairs", pairs, METH_O,
     "pairs(items) -> tuple | None\n\nThe flat key of a list of two-key str dicts "
     "(chat messages); None for any other input. See keys._pairs_py."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef chat_pairs_module = {
    PyModuleDef_HEAD_INIT,
    "_chat_pairs",
    "The chat-messages local key in C (see flowdeck.engine.stores.keys).",
    0,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__chat_pairs(void)
{
    return PyModuleDef_Init(&chat_pairs_module);
}
