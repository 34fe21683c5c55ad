// vlgraph/text/jinja/renderer.hpp — the renderer (see jinja.hpp for semantics, strictness and bounds).
#pragma once

#include <vlgraph/text/jinja/parser.hpp>

namespace vl::text::jinja {

// ---------------------------------------------------------------------------------------------------------
// Renderer.

class renderer {
public:
    // `globals`: the variables HF passes to the template (messages, add_generation_prompt, ...).
    explicit renderer(value::fields_type globals) : globals_(std::move(globals)) {}

    // Rvalue-only: top-level `set`s write into the globals, so a renderer renders once.
    std::string render(const parsed_template& t) && {
        std::string out;
        scope top{&globals_, nullptr};
        exec_body(t.body(), top, out);
        return out;
    }

private:
    struct scope {
        value::fields_type* vars;
        scope* parent;
    };
    struct loop_exit {};

    value::fields_type globals_;
    int call_depth_ = 0;
    std::uint64_t work_ = 0;  // see max_work

    void charge(int line, std::uint64_t units) {
        work_ += units;
        if (work_ > max_work)
            fail(line, "the template does too much work (over " + std::to_string(max_work) +
                           " steps: an endless loop or recursion?)");
    }
    void check_items(int line, std::size_t n) {
        if (n > max_list_items) fail(line, "a list of " + std::to_string(n) + " items exceeds the limit of " + std::to_string(max_list_items));
        charge(line, n);
    }

    [[noreturn]] static void fail(int line, const std::string& what) { detail::fail(line, what); }

    void check_size(int line, std::size_t n) {
        if (n > max_string_bytes) fail(line, "rendered text exceeds " + std::to_string(max_string_bytes) + " bytes");
        charge(line, n / 64);
    }
    void append(std::string& out, std::string_view s, int line) {
        check_size(line, out.size() + s.size());
        out += s;
    }

    value* find(scope& sc, std::string_view name) {
        for (scope* s = &sc; s; s = s->parent)
            for (auto& [key, v] : *s->vars)
                if (key == name) return &v;
        return nullptr;
    }
    void assign(scope& sc, const std::string& name, value v) {
        for (auto& [key, old] : *sc.vars)
            if (key == name) {
                old = std::move(v);
                return;
            }
        sc.vars->emplace_back(name, std::move(v));
    }

    // ---- statements

    void exec_body(const std::vector<stmt>& body, scope& sc, std::string& out) {
        for (const stmt& s : body) exec(s, sc, out);
    }

    void exec(const stmt& s, scope& sc, std::string& out) {
        charge(s.line, 1);
        switch (s.o) {
            case stmt::op::text: append(out, s.text, s.line); return;
            case stmt::op::output: append(out, to_output(eval(*s.e, sc), s.line), s.line); return;
            case stmt::op::if_:
                for (std::size_t k = 0; k < s.conditions.size(); ++k)
                    if (truthy(eval(*s.conditions[k], sc))) return exec_body(s.bodies[k], sc, out);
                if (s.bodies.size() > s.conditions.size()) exec_body(s.bodies.back(), sc, out);
                return;
            case stmt::op::for_: return exec_for(s, sc, out);
            case stmt::op::set: {
                value v = eval(*s.e, sc);
                if (s.attr.empty()) return assign(sc, s.name, std::move(v));
                value* ns = find(sc, s.name);
                if (!ns || ns->k != value::kind::namespace_)
                    fail(s.line, "can only assign attributes of a namespace(), and '" + s.name + "' is not one");
                if (s.attr.front() == '_') fail(s.line, "namespace attributes must not start with '_'");
                for (auto& [key, old] : *ns->fields)
                    if (key == s.attr) {
                        old = std::move(v);
                        return;
                    }
                ns->fields->emplace_back(s.attr, std::move(v));
                return;
            }
            case stmt::op::macro: {
                value m;
                m.k = value::kind::macro;
                m.macro = &s;
                return assign(sc, s.name, std::move(m));
            }
        }
    }

    void exec_for(const stmt& s, scope& sc, std::string& out) {
        const value seq = eval(*s.e, sc);
        value::list_type keys;  // a dict iterates over its keys
        const value::list_type* elems = &keys;
        if (seq.k == value::kind::list) {
            elems = seq.items.get();
        } else if (seq.k == value::kind::dict) {
            for (const auto& [key, v] : *seq.fields) keys.push_back(value::string(key));
        } else if (seq.k != value::kind::undefined) {
            fail(s.line, "cannot iterate over " + type_name(seq));
        }
        check_items(s.line, elems->size());
        const auto n = static_cast<std::int64_t>(elems->size());
        // One `loop` object advanced in place, as Jinja2's LoopContext is, and one scope vector cleared per
        // iteration: a loop step allocates nothing, so a hostile loop reaches the work cap quickly.
        enum : std::size_t { index0, index, first, last, length, revindex, revindex0, previtem, nextitem };
        value loop = value::dict({{"index0", {}}, {"index", {}}, {"first", {}}, {"last", {}}, {"length", value::integer(n)},
                                  {"revindex", {}}, {"revindex0", {}}, {"previtem", {}}, {"nextitem", {}}});
        value::fields_type vars;
        for (std::int64_t k = 0; k < n; ++k) {
            charge(s.line, 1);
            const auto uk = static_cast<std::size_t>(k);
            auto& at = *loop.fields;
            at[index0].second = value::integer(k);
            at[index].second = value::integer(k + 1);
            at[first].second = value::boolean(k == 0);
            at[last].second = value::boolean(k == n - 1);
            at[revindex].second = value::integer(n - k);
            at[revindex0].second = value::integer(n - k - 1);
            at[previtem].second = k > 0 ? (*elems)[uk - 1] : value{};  // undefined at the ends, as in Jinja2
            at[nextitem].second = k < n - 1 ? (*elems)[uk + 1] : value{};
            // Each iteration is its own scope: Jinja2's `set` inside a loop does not leak out of it.
            vars.clear();
            vars.emplace_back("loop", loop);
            const value& e = (*elems)[uk];
            if (s.params.size() == 1) {
                vars.emplace_back(s.params[0], e);
            } else {
                if (e.k != value::kind::list || e.items->size() != s.params.size())
                    fail(s.line, "cannot unpack " + type_name(e) + " into " + std::to_string(s.params.size()) + " loop variables");
                for (std::size_t t = 0; t < s.params.size(); ++t) vars.emplace_back(s.params[t], (*e.items)[t]);
            }
            scope inner{&vars, &sc};
            exec_body(s.bodies[0], inner, out);
        }
    }

    // ---- expressions

    std::string type_name(const value& v) {
        switch (v.k) {
            case value::kind::undefined: return "an undefined value";
            case value::kind::none: return "none";
            case value::kind::boolean: return "a boolean";
            case value::kind::integer: return "an integer";
            case value::kind::floating: return "a float";
            case value::kind::string: return "a string";
            case value::kind::list: return "a list";
            case value::kind::dict: return "a dict";
            case value::kind::namespace_: return "a namespace";
            case value::kind::macro: return "a macro";
            case value::kind::builtin: return "a builtin function";
        }
        return "a value";
    }

    bool truthy(const value& v) {
        switch (v.k) {
            case value::kind::undefined:
            case value::kind::none: return false;
            case value::kind::boolean: return v.b;
            case value::kind::integer: return v.i != 0;
            case value::kind::floating: return v.f != 0;
            case value::kind::string: return !v.s.empty();
            case value::kind::list: return !v.items->empty();
            case value::kind::dict: return !v.fields->empty();
            case value::kind::namespace_:
            case value::kind::macro:
            case value::kind::builtin: return true;
        }
        return false;
    }

    // Python's str() for the scalar kinds; containers are refused rather than mimicking Python's repr().
    std::string to_output(const value& v, int line) {
        switch (v.k) {
            case value::kind::undefined: return "";
            case value::kind::none: return "None";
            case value::kind::boolean: return v.b ? "True" : "False";
            case value::kind::integer: return std::to_string(v.i);
            case value::kind::floating: return detail::python_float(v.f);
            case value::kind::string: return v.s;
            default: fail(line, "printing " + type_name(v) + " is not supported");
        }
    }

    // transformers' tojson filter: json.dumps(x, ensure_ascii=False), separators ", " and ": ", keys in order.
    void to_json(std::string& out, const value& v, int line, int depth = 0) {
        if (depth > max_nesting) fail(line, "tojson: nesting deeper than " + std::to_string(max_nesting));
        check_size(line, out.size());
        switch (v.k) {
            case value::kind::none: out += "null"; return;
            case value::kind::boolean: out += v.b ? "true" : "false"; return;
            case value::kind::integer: out += std::to_string(v.i); return;
            case value::kind::floating:
                if (std::isnan(v.f)) out += "NaN";
                else if (std::isinf(v.f)) out += v.f < 0 ? "-Infinity" : "Infinity";
                else out += detail::python_float(v.f);
                return;
            case value::kind::string: detail::json_string(out, v.s); return;
            case value::kind::list:
                out += '[';
                for (std::size_t k = 0; k < v.items->size(); ++k) {
                    if (k > 0) out += ", ";
                    to_json(out, (*v.items)[k], line, depth + 1);
                }
                out += ']';
                return;
            case value::kind::dict: {
                out += '{';
                bool first = true;
                for (const auto& [key, item] : *v.fields) {
                    if (!first) out += ", ";
                    first = false;
                    detail::json_string(out, key);
                    out += ": ";
                    to_json(out, item, line, depth + 1);
                }
                out += '}';
                return;
            }
            default: fail(line, "tojson of " + type_name(v) + " is not supported");
        }
    }

    static bool equal(const value& a, const value& b) {
        const bool an = a.k == value::kind::integer || a.k == value::kind::boolean;
        const bool bn = b.k == value::kind::integer || b.k == value::kind::boolean;
        if (an && bn) return (a.k == value::kind::boolean ? a.b : a.i) == (b.k == value::kind::boolean ? b.b : b.i);
        if ((an || a.k == value::kind::floating) && (bn || b.k == value::kind::floating)) {
            const auto as_double = [](const value& v) { return v.k == value::kind::floating ? v.f : static_cast<double>(v.k == value::kind::boolean ? v.b : v.i); };
            return as_double(a) == as_double(b);
        }
        if (a.k != b.k) return false;
        switch (a.k) {
            case value::kind::undefined:
            case value::kind::none: return true;
            case value::kind::string: return a.s == b.s;
            case value::kind::list:
                return a.items->size() == b.items->size() && std::equal(a.items->begin(), a.items->end(), b.items->begin(), equal);
            case value::kind::dict:
                if (a.fields->size() != b.fields->size()) return false;
                for (const auto& [key, v] : *a.fields) {
                    const value* o = b.field(key);
                    if (!o || !equal(v, *o)) return false;
                }
                return true;
            default: return a.fields == b.fields && a.macro == b.macro && a.s == b.s;  // identity
        }
    }

    bool contains(const value& hay, const value& needle, int line) {
        switch (hay.k) {
            case value::kind::undefined: return false;  // Undefined iterates as empty
            case value::kind::string:
                if (needle.k != value::kind::string) fail(line, "'in <string>' needs a string on the left");
                return hay.s.find(needle.s) != std::string::npos;
            case value::kind::list:
                return std::any_of(hay.items->begin(), hay.items->end(), [&](const value& v) { return equal(v, needle); });
            case value::kind::dict: return needle.k == value::kind::string && hay.field(needle.s) != nullptr;
            default: fail(line, "'in' is not supported on " + type_name(hay));
        }
    }

    std::int64_t to_int(const value& v, int line, std::string_view what) {
        if (v.k == value::kind::integer) return v.i;
        if (v.k == value::kind::boolean) return v.b ? 1 : 0;
        fail(line, std::string(what) + " needs integers, got " + type_name(v));
    }

    value arithmetic(const std::string& op, const value& a, const value& b, int line) {
        if (op == "+" && a.k == value::kind::string && b.k == value::kind::string) {
            check_size(line, a.s.size() + b.s.size());
            return value::string(a.s + b.s);
        }
        if (op == "+" && a.k == value::kind::list && b.k == value::kind::list) {
            check_items(line, a.items->size() + b.items->size());
            value::list_type r = *a.items;
            r.insert(r.end(), b.items->begin(), b.items->end());
            return value::list(std::move(r));
        }
        const std::int64_t x = to_int(a, line, "'" + op + "'"), y = to_int(b, line, "'" + op + "'");
        std::int64_t r = 0;
        bool overflow = false;
        if (op == "+") overflow = __builtin_add_overflow(x, y, &r);
        else if (op == "-") overflow = __builtin_sub_overflow(x, y, &r);
        else if (op == "*") overflow = __builtin_mul_overflow(x, y, &r);
        else {
            if (y == 0) fail(line, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) overflow = true;
            else {
                // Python floors: the quotient rounds towards -inf and the remainder takes the divisor's sign.
                std::int64_t q = x / y, m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) --q, m += y;
                r = op == "//" ? q : m;
            }
        }
        if (overflow) fail(line, "integer overflow in '" + op + "'");
        return value::integer(r);
    }

    bool less(const value& a, const value& b, int line) {
        if (a.k == value::kind::string && b.k == value::kind::string) return a.s < b.s;  // UTF-8 order = code point order
        return to_int(a, line, "ordering comparison") < to_int(b, line, "ordering comparison");
    }

    value eval(const expr& e, scope& sc) {
        charge(e.line, 1);
        switch (e.o) {
            case expr::op::literal: return e.lit;
            case expr::op::name: {
                if (const value* v = find(sc, e.name)) return *v;
                if (e.name == "namespace" || e.name == "raise_exception") {
                    value f = value::string(e.name);
                    f.k = value::kind::builtin;
                    return f;
                }
                fail(e.line, "the template uses the variable '" + e.name + "', which vlgraph does not provide");
            }
            case expr::op::attr: return get_attr(eval(*e.args[0], sc), e.name, e.line);
            case expr::op::item: return get_item(eval(*e.args[0], sc), eval(*e.args[1], sc), e.line);
            case expr::op::slice: return slice(e, sc);
            case expr::op::call: return call(e, sc);
            case expr::op::filter: return filter(e, sc);
            case expr::op::test: return value::boolean(test(e, sc) != e.negated);
            case expr::op::not_: return value::boolean(!truthy(eval(*e.args[0], sc)));
            case expr::op::neg: return arithmetic("-", value::integer(0), eval(*e.args[0], sc), e.line);
            case expr::op::and_: {
                value l = eval(*e.args[0], sc);
                return truthy(l) ? eval(*e.args[1], sc) : l;
            }
            case expr::op::or_: {
                value l = eval(*e.args[0], sc);
                return truthy(l) ? l : eval(*e.args[1], sc);
            }
            case expr::op::cond:
                if (truthy(eval(*e.args[1], sc))) return eval(*e.args[0], sc);
                return e.args[2] ? eval(*e.args[2], sc) : value{};
            case expr::op::list: {
                value::list_type items;
                check_items(e.line, e.args.size());
                for (const auto& a : e.args) items.push_back(eval(*a, sc));
                return value::list(std::move(items));
            }
            case expr::op::binary: return binary(e, sc);
        }
        fail(e.line, "unknown expression");
    }

    value binary(const expr& e, scope& sc) {
        const value a = eval(*e.args[0], sc), b = eval(*e.args[1], sc);
        const std::string& op = e.name;
        if (op == "==") return value::boolean(equal(a, b));
        if (op == "!=") return value::boolean(!equal(a, b));
        if (op == "in") return value::boolean(contains(b, a, e.line));
        if (op == "not in") return value::boolean(!contains(b, a, e.line));
        if (op == "~") {
            std::string s = to_output(a, e.line);
            check_size(e.line, s.size() + to_output(b, e.line).size());
            return value::string(s + to_output(b, e.line));
        }
        if (op == "<") return value::boolean(less(a, b, e.line));
        if (op == ">") return value::boolean(less(b, a, e.line));
        if (op == "<=") return value::boolean(!less(b, a, e.line));
        if (op == ">=") return value::boolean(!less(a, b, e.line));
        if (a.k == value::kind::undefined || b.k == value::kind::undefined) fail(e.line, "'" + op + "' on an undefined value");
        return arithmetic(op, a, b, e.line);
    }

    // Jinja2's sandboxed getattr on plain data: `x.name` is a dict key, a namespace or loop attribute, or
    // undefined when missing (also on none). Python attributes of the other kinds, and the methods of dicts
    // (which Jinja2 would return instead of a key of the same name), are refused; string methods are reachable
    // only through a call (see call()).
    value get_attr(const value& obj, const std::string& name, int line) {
        static constexpr std::array<std::string_view, 11> dict_methods{"items", "keys", "values", "get", "pop", "popitem", "update", "copy", "clear", "setdefault", "fromkeys"};
        if (name.front() == '_') fail(line, "access to the attribute '" + name + "' is unsafe and refused");
        if (obj.k == value::kind::none) return value{};
        if (obj.k != value::kind::dict && obj.k != value::kind::namespace_)
            fail(line, "the attribute '" + name + "' of " + type_name(obj) + " is not supported");
        if (obj.k == value::kind::dict && std::find(dict_methods.begin(), dict_methods.end(), name) != dict_methods.end())
            fail(line, "the dict method '" + name + "' is not supported");
        if (const value* v = obj.field(name)) return *v;
        return value{};
    }

    value get_item(const value& obj, const value& key, int line) {
        if (obj.k == value::kind::undefined) fail(line, "subscript of an undefined value");
        if (key.k == value::kind::string) {
            if (obj.k != value::kind::dict && obj.k != value::kind::namespace_) fail(line, "a string key on " + type_name(obj));
            const value* v = obj.field(key.s);
            return v ? *v : value{};
        }
        if (obj.k != value::kind::list && obj.k != value::kind::string) fail(line, "indexing " + type_name(obj) + " is not supported");
        const std::int64_t k = to_int(key, line, "an index");
        if (obj.k == value::kind::list) {
            const auto n = static_cast<std::int64_t>(obj.items->size());
            const std::int64_t idx = k < 0 ? k + n : k;
            // Jinja2 turns a failed lookup into undefined rather than raising.
            return idx < 0 || idx >= n ? value{} : (*obj.items)[static_cast<std::size_t>(idx)];
        }
        const auto off = detail::code_point_offsets(obj.s);
        const auto n = static_cast<std::int64_t>(off.size()) - 1;
        const std::int64_t idx = k < 0 ? k + n : k;
        if (idx < 0 || idx >= n) return value{};
        const auto u = static_cast<std::size_t>(idx);
        return value::string(obj.s.substr(off[u], off[u + 1] - off[u]));
    }

    value slice(const expr& e, scope& sc) {
        const value obj = eval(*e.args[0], sc);
        std::array<std::int64_t, 3> part{};
        std::array<bool, 3> given{};
        for (std::size_t k = 0; k < 3; ++k)
            if (e.args[k + 1]) {
                const value v = eval(*e.args[k + 1], sc);
                given[k] = v.k != value::kind::none;
                if (given[k]) part[k] = to_int(v, e.line, "a slice");
            }
        const std::int64_t step = given[2] ? part[2] : 1;
        if (step == 0) fail(e.line, "slice step cannot be zero");
        std::vector<std::size_t> off;
        std::int64_t n = 0;
        if (obj.k == value::kind::list) n = static_cast<std::int64_t>(obj.items->size());
        else if (obj.k == value::kind::string) off = detail::code_point_offsets(obj.s), n = static_cast<std::int64_t>(off.size()) - 1;
        else fail(e.line, "slicing " + type_name(obj) + " is not supported");
        // Python's slice.indices(n).
        const auto clamp = [&](std::int64_t v, std::int64_t lo, std::int64_t hi) {
            if (v < 0) v += n;
            return std::clamp(v, lo, hi);
        };
        const std::int64_t start = given[0] ? clamp(part[0], step < 0 ? -1 : 0, step < 0 ? n - 1 : n) : (step < 0 ? n - 1 : 0);
        const std::int64_t stop = given[1] ? clamp(part[1], step < 0 ? -1 : 0, step < 0 ? n - 1 : n) : (step < 0 ? -1 : n);
        value::list_type items;
        std::string s;
        for (std::int64_t k = start; step > 0 ? k < stop : k > stop; k += step) {
            charge(e.line, 1);
            const auto u = static_cast<std::size_t>(k);
            if (obj.k == value::kind::list) items.push_back((*obj.items)[u]);
            else s.append(obj.s, off[u], off[u + 1] - off[u]);
        }
        return obj.k == value::kind::list ? value::list(std::move(items)) : value::string(std::move(s));
    }

    // ---- calls: macros, builtins, string methods

    value call(const expr& e, scope& sc) {
        const expr& callee = *e.args[0];
        std::vector<value> args;
        for (std::size_t k = 1; k < e.args.size(); ++k) args.push_back(eval(*e.args[k], sc));
        const std::size_t npos = args.size() - e.keywords.size();
        if (callee.o == expr::op::attr) {
            const value obj = eval(*callee.args[0], sc);
            if (obj.k == value::kind::string) {
                if (!e.keywords.empty()) fail(e.line, "keyword arguments to string methods are not supported");
                return string_method(obj.s, callee.name, args, e.line);
            }
            fail(e.line, "calling the method '" + callee.name + "' of " + type_name(obj) + " is not supported");
        }
        const value f = eval(callee, sc);
        if (f.k == value::kind::macro) return call_macro(*f.macro, args, e, sc);
        if (f.k != value::kind::builtin) fail(e.line, "calling " + type_name(f) + " is not supported");
        if (f.s == "namespace") {
            if (npos != 0) fail(e.line, "namespace() takes keyword arguments only");
            value ns = value::dict({});
            ns.k = value::kind::namespace_;
            for (std::size_t k = 0; k < e.keywords.size(); ++k) ns.fields->emplace_back(e.keywords[k], args[npos + k]);
            return ns;
        }
        if (args.size() != 1 || !e.keywords.empty() || args[0].k != value::kind::string)
            fail(e.line, "raise_exception() takes one string");
        throw vl::error("chat template raised an exception: " + args[0].s);
    }

    value call_macro(const stmt& m, std::vector<value>& args, const expr& e, scope& sc) {
        const std::size_t npos = args.size() - e.keywords.size();
        if (npos > m.params.size()) fail(e.line, "macro '" + m.name + "' takes at most " + std::to_string(m.params.size()) + " arguments");
        std::vector<std::pair<std::string, value>> vars;
        std::vector<bool> bound(m.params.size(), false);
        for (std::size_t k = 0; k < npos; ++k) vars.emplace_back(m.params[k], std::move(args[k])), bound[k] = true;
        for (std::size_t k = 0; k < e.keywords.size(); ++k) {
            const auto it = std::find(m.params.begin(), m.params.end(), e.keywords[k]);
            if (it == m.params.end()) fail(e.line, "macro '" + m.name + "' has no parameter '" + e.keywords[k] + "'");
            const auto idx = static_cast<std::size_t>(it - m.params.begin());
            if (bound[idx]) fail(e.line, "macro '" + m.name + "' got '" + e.keywords[k] + "' twice");
            vars.emplace_back(e.keywords[k], std::move(args[npos + k]));
            bound[idx] = true;
        }
        // Macros see the template's top-level variables, not the caller's locals.
        scope* top = &sc;
        while (top->parent) top = top->parent;
        scope inner{nullptr, top};
        value::fields_type locals;
        inner.vars = &locals;
        for (std::size_t k = 0; k < m.params.size(); ++k) {
            if (bound[k]) continue;
            // A missing argument without a default is undefined, as in Jinja2.
            vars.emplace_back(m.params[k], m.defaults[k] ? eval(*m.defaults[k], inner) : value{});
        }
        locals = std::move(vars);
        if (++call_depth_ > max_call_depth) fail(e.line, "macro calls nested deeper than " + std::to_string(max_call_depth));
        std::string out;
        exec_body(m.bodies[0], inner, out);
        --call_depth_;
        return value::string(std::move(out));
    }

    value string_method(const std::string& s, const std::string& name, const std::vector<value>& args, int line) {
        const auto want = [&](std::size_t lo, std::size_t hi) {
            if (args.size() < lo || args.size() > hi) fail(line, "wrong number of arguments to str." + name + "()");
            for (const value& a : args)
                if (a.k != value::kind::string && a.k != value::kind::none) fail(line, "str." + name + "() takes string arguments");
        };
        if (name == "startswith" || name == "endswith") {
            want(1, 1);
            if (args[0].k != value::kind::string) fail(line, "str." + name + "() takes a string");
            const std::string& a = args[0].s;
            const bool r = a.size() <= s.size() && (name == "startswith" ? s.compare(0, a.size(), a) == 0 : s.compare(s.size() - a.size(), a.size(), a) == 0);
            return value::boolean(r);
        }
        if (name == "strip" || name == "lstrip" || name == "rstrip") {
            want(0, 1);
            const std::string* chars = args.empty() || args[0].k == value::kind::none ? nullptr : &args[0].s;
            return value::string(detail::py_strip(s, chars, name != "rstrip", name != "lstrip"));
        }
        if (name == "split") {
            want(1, 1);
            if (args[0].k != value::kind::string) fail(line, "str.split() without a separator is not supported");
            const std::string& sep = args[0].s;
            if (sep.empty()) fail(line, "str.split(): empty separator");
            value::list_type parts;
            std::size_t from = 0;
            for (std::size_t at; (at = s.find(sep, from)) != std::string::npos; from = at + sep.size()) parts.push_back(value::string(s.substr(from, at - from)));
            parts.push_back(value::string(s.substr(from)));
            check_items(line, parts.size());
            return value::list(std::move(parts));
        }
        fail(line, "the string method '" + name + "' is not supported");
    }

    value filter(const expr& e, scope& sc) {
        const value v = eval(*e.args[0], sc);
        if (e.args.size() != 1) fail(e.line, "arguments to the filter '" + e.name + "' are not supported");
        if (e.name == "trim") {
            if (v.k != value::kind::string && v.k != value::kind::undefined) fail(e.line, "trim of " + type_name(v) + " is not supported");
            return value::string(detail::py_strip(v.s, nullptr, true, true));
        }
        if (e.name == "tojson") {
            std::string out;
            to_json(out, v, e.line);
            return value::string(std::move(out));
        }
        if (e.name == "string") return v.k == value::kind::string ? v : value::string(to_output(v, e.line));
        if (e.name == "safe") return v;  // autoescape is off: markup and text are the same
        if (e.name == "items") {
            if (v.k == value::kind::undefined) return value::list({});
            if (v.k != value::kind::dict) fail(e.line, "items of " + type_name(v) + " (a mapping is needed)");
            value::list_type pairs;
            for (const auto& [key, item] : *v.fields) pairs.push_back(value::list({value::string(key), item}));
            check_items(e.line, pairs.size());
            return value::list(std::move(pairs));
        }
        if (e.name == "length" || e.name == "count") {
            switch (v.k) {
                case value::kind::undefined: return value::integer(0);
                case value::kind::string: return value::integer(static_cast<std::int64_t>(detail::code_point_offsets(v.s).size()) - 1);
                case value::kind::list: return value::integer(static_cast<std::int64_t>(v.items->size()));
                case value::kind::dict: return value::integer(static_cast<std::int64_t>(v.fields->size()));
                default: fail(e.line, "length of " + type_name(v) + " is not supported");
            }
        }
        fail(e.line, "the filter '" + e.name + "' is not supported");
    }

    bool test(const expr& e, scope& sc) {
        const value v = eval(*e.args[0], sc);
        const std::string& t = e.name;
        using k = value::kind;
        if (t == "defined") return v.k != k::undefined;
        if (t == "undefined") return v.k == k::undefined;
        if (t == "none") return v.k == k::none;
        if (t == "string") return v.k == k::string;
        if (t == "number") return v.k == k::integer || v.k == k::floating || v.k == k::boolean;  // Python's bool is a Number
        if (t == "true") return v.k == k::boolean && v.b;
        if (t == "false") return v.k == k::boolean && !v.b;
        if (t == "mapping") return v.k == k::dict;
        // Jinja2's Undefined defines __iter__, so it is iterable (and iterates as empty).
        if (t == "iterable") return v.k == k::undefined || v.k == k::string || v.k == k::list || v.k == k::dict;
        if (t == "sequence") return v.k == k::string || v.k == k::list || v.k == k::dict;
        fail(e.line, "the test '" + t + "' is not supported");
    }
};

}  // namespace vl::text::jinja
