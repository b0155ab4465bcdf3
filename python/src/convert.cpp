#include "convert.hpp"

#include <string>

#include "gdn/error.hpp"

namespace gdn::python {

DType parse_dtype(py::handle obj, const char* name) {
    std::string text;
    if (py::isinstance<py::str>(obj)) {
        text = obj.cast<std::string>();
    } else if (py::hasattr(obj, "itemsize") && py::hasattr(obj, "name")) {  // numpy.dtype
        text = py::str(obj.attr("name"));
    } else if (py::hasattr(obj, "__name__") && py::hasattr(obj, "dtype")) {  // numpy.float32 (a type)
        text = py::str(obj.attr("__name__"));
    } else {
        text = py::str(obj);  // torch.bfloat16
    }
    if (text.rfind("torch.", 0) == 0) text = text.substr(6);
    try {
        return dtype_from_name(text);
    } catch (const Error&) {
        invalid_argument(name, "one of f32, bf16, f16 (or float32, bfloat16, float16), got '" + text + "'");
    }
}

std::vector<int64_t> int_list(py::handle obj, const char* name) {
    py::object seq = py::reinterpret_borrow<py::object>(obj);
    if (py::hasattr(obj, "tolist")) seq = obj.attr("tolist")();
    if (!py::isinstance<py::sequence>(seq) || py::isinstance<py::str>(seq))
        invalid_argument(name,
                         "a sequence of ints, got " + std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
    std::vector<int64_t> out;
    out.reserve(py::len(seq));
    std::size_t i = 0;
    for (py::handle item : seq) {
        if (!PyLong_Check(item.ptr()) && !PyIndex_Check(item.ptr()))
            invalid_argument(std::string(name) + "[" + std::to_string(i) + "]",
                             "an int, got " + std::string(py::str(py::type::handle_of(item).attr("__name__"))));
        out.push_back(py::cast<int64_t>(item));
        ++i;
    }
    return out;
}

}  // namespace gdn::python
