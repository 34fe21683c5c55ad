// vlgraph/text/jinja/parser.hpp — the syntax tree and the parser (see jinja.hpp for semantics, strictness and bounds).
#pragma once

#include <vlgraph/text/jinja/lexer.hpp>

namespace vl::text::jinja {

// ---------------------------------------------------------------------------------------------------------
// Syntax tree.

struct expr {
    enum class op : std::uint8_t { literal, name, attr, item, slice, call, filter, test, not_, neg, and_, or_, binary, cond, list };
    op o = op::literal;
    int line = 0;
    value lit;         // literal
    std::string name;  // name, attr, call keyword names are in `keywords`, filter/test name, binary operator
    bool negated = false;                      // test: `is not`
    std::vector<std::unique_ptr<expr>> args;   // operands; absent slice parts and `else` are nullptr
    std::vector<std::string> keywords;         // call: names of the trailing keyword arguments
};

struct stmt {
    enum class op : std::uint8_t { text, output, if_, for_, set, macro };
    op o = op::text;
    int line = 0;
    std::string text;                                     // text: the literal data
    std::unique_ptr<expr> e;                              // output / for iterable / set value
    std::vector<std::unique_ptr<expr>> conditions;        // if: one per if/elif branch
    std::vector<std::vector<stmt>> bodies;                // if: branch bodies (+ else body last); for/macro: [body]
    std::string name, attr;                               // set target (attr: `set ns.attr`) / macro name
    std::vector<std::string> params;                      // macro parameters / for targets (several: unpacking)
    std::vector<std::unique_ptr<expr>> defaults;          // macro: default per parameter, nullptr when none
};

// ---------------------------------------------------------------------------------------------------------
// Parser: tokens -> statements.

class parsed_template {
public:
    explicit parsed_template(std::string_view source) {
        if (!utf8_valid(source)) throw vl::error("chat template is not valid UTF-8");
        toks_ = detail::lexer(source).run();
        std::string end;
        body_ = parse_body({}, end);
    }
    const std::vector<stmt>& body() const { return body_; }

private:
    using token = detail::token;
    std::vector<token> toks_;
    std::size_t p_ = 0;
    int depth_ = 0;
    std::vector<stmt> body_;

    const token& peek(std::size_t ahead = 0) const { return toks_[std::min(p_ + ahead, toks_.size() - 1)]; }
    const token& next() {
        const token& t = peek();
        if (p_ < toks_.size() - 1) ++p_;
        return t;
    }
    bool at_op(std::string_view op) const { return peek().k == token::kind::op && peek().text == op; }
    bool at_name(std::string_view n) const { return peek().k == token::kind::name && peek().text == n; }
    [[noreturn]] void fail(const std::string& what) const { detail::fail(peek().line, what); }
    void expect_op(std::string_view op) {
        if (!at_op(op)) fail("expected '" + std::string(op) + "', got " + describe(peek()));
        next();
    }
    std::string expect_name() {
        if (peek().k != token::kind::name) fail("expected a name, got " + describe(peek()));
        return next().text;
    }
    void expect_block_end() {
        if (peek().k != token::kind::block_end) fail("expected the end of the tag, got " + describe(peek()));
        next();
    }
    static std::string describe(const token& t) {
        switch (t.k) {
            case token::kind::block_end: return "'%}'";
            case token::kind::var_end: return "'}}'";
            case token::kind::eof: return "the end of the template";
            default: return "'" + t.text + "'";
        }
    }
    struct depth_guard {
        int& d;
        depth_guard(int& depth, const parsed_template& self) : d(depth) {
            if (++d > max_nesting) self.fail("nesting deeper than " + std::to_string(max_nesting));
        }
        ~depth_guard() { --d; }
        depth_guard(const depth_guard&) = delete;
        depth_guard& operator=(const depth_guard&) = delete;
    };

    // Statements until a block tag whose keyword is in `ends` (returned in `end`, the tag left open for the
    // caller) or, with empty `ends`, until the end of the template.
    std::vector<stmt> parse_body(std::initializer_list<std::string_view> ends, std::string& end) {
        const depth_guard g(depth_, *this);
        std::vector<stmt> out;
        for (;;) {
            const token& t = peek();
            if (t.k == token::kind::eof) {
                for (std::string_view closer : ends)
                    if (closer.starts_with("end")) fail("missing {% " + std::string(closer) + " %}");
                return out;
            }
            if (t.k == token::kind::data) {
                stmt s;
                s.o = stmt::op::text;
                s.line = t.line;
                s.text = next().text;
                out.push_back(std::move(s));
            } else if (t.k == token::kind::var_begin) {
                next();
                stmt s;
                s.o = stmt::op::output;
                s.line = t.line;
                s.e = parse_expr();
                if (peek().k != token::kind::var_end) fail("expected '}}', got " + describe(peek()));
                next();
                out.push_back(std::move(s));
            } else {
                next();  // block_begin
                const std::string kw = expect_name();
                if (std::find(ends.begin(), ends.end(), kw) != ends.end()) {
                    end = kw;
                    return out;
                }
                out.push_back(parse_statement(kw));
            }
        }
    }

    stmt parse_statement(const std::string& kw) {
        stmt s;
        s.line = peek().line;
        std::string end;
        if (kw == "if") {
            s.o = stmt::op::if_;
            s.conditions.push_back(parse_expr());
            expect_block_end();
            for (;;) {
                s.bodies.push_back(parse_body({"elif", "else", "endif"}, end));
                if (end == "elif") {
                    s.conditions.push_back(parse_expr());
                    expect_block_end();
                } else if (end == "else") {
                    expect_block_end();
                    s.bodies.push_back(parse_body({"endif"}, end));
                    expect_block_end();
                    return s;
                } else {
                    expect_block_end();
                    return s;
                }
            }
        }
        if (kw == "for") {
            s.o = stmt::op::for_;
            s.params.push_back(expect_name());
            while (at_op(",")) {
                next();
                s.params.push_back(expect_name());
            }
            if (!at_name("in")) fail("expected 'in' in the for loop, got " + describe(peek()));
            next();
            s.e = parse_or();  // not a full expression: `for x in y if cond` (a loop filter) is refused below
            if (peek().k != token::kind::block_end)
                fail("unsupported for-loop clause " + describe(peek()) + " (loop filters and `recursive`)");
            next();
            s.bodies.push_back(parse_body({"endfor", "else"}, end));
            if (end == "else") fail("for ... else is not supported");
            expect_block_end();
            return s;
        }
        if (kw == "set") {
            s.o = stmt::op::set;
            s.name = expect_name();
            if (at_op(".")) {
                next();
                s.attr = expect_name();
            }
            if (at_op(",")) fail("set with several targets (unpacking) is not supported");
            if (!at_op("=")) fail("block assignments ({% set x %}...{% endset %}) are not supported");
            next();
            s.e = parse_expr();
            expect_block_end();
            return s;
        }
        if (kw == "macro") {
            s.o = stmt::op::macro;
            s.name = expect_name();
            expect_op("(");
            while (!at_op(")")) {
                s.params.push_back(expect_name());
                if (at_op("=")) {
                    next();
                    s.defaults.push_back(parse_expr());
                } else {
                    if (!s.defaults.empty() && s.defaults.back()) fail("a macro parameter without a default follows one with a default");
                    s.defaults.push_back(nullptr);
                }
                if (!at_op(",")) break;
                next();
            }
            expect_op(")");
            expect_block_end();
            s.bodies.push_back(parse_body({"endmacro"}, end));
            if (peek().k == token::kind::name) next();  // `{% endmacro name %}` is allowed
            expect_block_end();
            return s;
        }
        if (kw.starts_with("end") || kw == "elif" || kw == "else") fail("unexpected {% " + kw + " %}");
        fail("unsupported Jinja statement '" + kw + "'");
    }

    // ---- expressions (Jinja2's precedence: cond < or < and < not < compare < +,- < ~ < *,//,% < unary < postfix)

    std::unique_ptr<expr> make(expr::op o, int line) {
        auto e = std::make_unique<expr>();
        e->o = o;
        e->line = line;
        return e;
    }
    std::unique_ptr<expr> binary(expr::op o, std::string name, std::unique_ptr<expr> l, std::unique_ptr<expr> r) {
        auto e = make(o, l->line);
        e->name = std::move(name);
        e->args.push_back(std::move(l));
        e->args.push_back(std::move(r));
        return e;
    }

    std::unique_ptr<expr> parse_expr() {
        const depth_guard g(depth_, *this);
        auto e = parse_or();
        if (!at_name("if")) return e;
        next();
        auto c = make(expr::op::cond, e->line);
        c->args.push_back(std::move(e));
        c->args.push_back(parse_or());
        if (at_name("else")) {
            next();
            c->args.push_back(parse_expr());
        } else {
            c->args.push_back(nullptr);
        }
        return c;
    }
    std::unique_ptr<expr> parse_or() {
        auto e = parse_and();
        while (at_name("or")) {
            next();
            e = binary(expr::op::or_, "or", std::move(e), parse_and());
        }
        return e;
    }
    std::unique_ptr<expr> parse_and() {
        auto e = parse_not();
        while (at_name("and")) {
            next();
            e = binary(expr::op::and_, "and", std::move(e), parse_not());
        }
        return e;
    }
    std::unique_ptr<expr> parse_not() {
        if (!at_name("not")) return parse_compare();
        const depth_guard g(depth_, *this);
        auto e = make(expr::op::not_, next().line);
        e->args.push_back(parse_not());
        return e;
    }
    std::unique_ptr<expr> parse_compare() {
        auto e = parse_additive();
        for (;;) {
            if (peek().k == token::kind::op && (at_op("==") || at_op("!=") || at_op("<") || at_op("<=") || at_op(">") || at_op(">="))) {
                const std::string op = next().text;
                e = binary(expr::op::binary, op, std::move(e), parse_additive());
            } else if (at_name("in")) {
                next();
                e = binary(expr::op::binary, "in", std::move(e), parse_additive());
            } else if (at_name("not") && peek(1).k == token::kind::name && peek(1).text == "in") {
                next();
                next();
                e = binary(expr::op::binary, "not in", std::move(e), parse_additive());
            } else {
                return e;
            }
        }
    }
    std::unique_ptr<expr> parse_additive() {
        auto e = parse_concat();
        while (at_op("+") || at_op("-")) {
            const std::string op = next().text;
            e = binary(expr::op::binary, op, std::move(e), parse_concat());
        }
        return e;
    }
    std::unique_ptr<expr> parse_concat() {
        auto e = parse_multiplicative();
        while (at_op("~")) {
            next();
            e = binary(expr::op::binary, "~", std::move(e), parse_multiplicative());
        }
        return e;
    }
    std::unique_ptr<expr> parse_multiplicative() {
        auto e = parse_unary();
        while (at_op("*") || at_op("//") || at_op("%") || at_op("/") || at_op("**")) {
            if (at_op("/") || at_op("**")) fail("operator '" + peek().text + "' is not supported (no floats)");
            const std::string op = next().text;
            e = binary(expr::op::binary, op, std::move(e), parse_unary());
        }
        return e;
    }
    // As Jinja2: `-x|f` is `(-x)|f`, the sign binds tighter than filters and tests.
    std::unique_ptr<expr> parse_unary(bool with_filters = true) {
        const depth_guard g(depth_, *this);
        std::unique_ptr<expr> e;
        if (at_op("-")) {
            e = make(expr::op::neg, next().line);
            e->args.push_back(parse_unary(false));
        } else {
            if (at_op("+")) next();
            e = parse_primary();
        }
        e = parse_postfix(std::move(e));
        return with_filters ? parse_filters(std::move(e)) : std::move(e);
    }
    std::unique_ptr<expr> parse_primary() {
        const token& t = peek();
        if (t.k == token::kind::string) {
            auto e = make(expr::op::literal, t.line);
            std::string s = next().text;
            while (peek().k == token::kind::string) s += next().text;  // adjacent literals concatenate
            e->lit = value::string(std::move(s));
            return e;
        }
        if (t.k == token::kind::integer) {
            auto e = make(expr::op::literal, t.line);
            std::int64_t v = 0;
            const std::string& digits = next().text;
            std::from_chars(digits.data(), digits.data() + digits.size(), v);  // range checked by the lexer
            e->lit = value::integer(v);
            return e;
        }
        if (t.k == token::kind::name) {
            auto e = make(expr::op::literal, t.line);
            const std::string& n = t.text;
            if (n == "true" || n == "True") e->lit = value::boolean(true);
            else if (n == "false" || n == "False") e->lit = value::boolean(false);
            else if (n == "none" || n == "None") e->lit = value::none();
            else e->o = expr::op::name, e->name = n;
            next();
            return e;
        }
        if (at_op("(")) {
            next();
            auto e = parse_expr();
            if (at_op(",")) fail("tuples are not supported");
            expect_op(")");
            return e;
        }
        if (at_op("[")) {
            auto e = make(expr::op::list, next().line);
            while (!at_op("]")) {
                e->args.push_back(parse_expr());
                if (!at_op(",")) break;
                next();
            }
            expect_op("]");
            return e;
        }
        if (at_op("{")) fail("dict literals are not supported");
        fail("unexpected " + describe(t) + " in an expression");
    }
    std::unique_ptr<expr> parse_postfix(std::unique_ptr<expr> e) {
        for (;;) {
            if (at_op(".")) {
                next();
                auto a = make(expr::op::attr, e->line);
                if (peek().k == token::kind::integer) fail("numeric attribute access (x.0) is not supported");
                a->name = expect_name();
                a->args.push_back(std::move(e));
                e = std::move(a);
            } else if (at_op("[")) {
                next();
                e = parse_subscript(std::move(e));
            } else if (at_op("(")) {
                e = parse_call(std::move(e));
            } else {
                return e;
            }
        }
    }
    std::unique_ptr<expr> parse_subscript(std::unique_ptr<expr> obj) {
        std::array<std::unique_ptr<expr>, 3> part;
        std::size_t n = 0;
        for (;;) {
            if (!at_op(":") && !at_op("]")) part[n] = parse_expr();
            if (!at_op(":")) break;
            if (++n == 3) fail("a slice has at most two ':'");
            next();
        }
        expect_op("]");
        if (n == 0 && !part[0]) fail("an empty subscript []");  // Jinja's syntax error too (it was evaluated as a null index)
        auto e = make(n == 0 ? expr::op::item : expr::op::slice, obj->line);
        e->args.push_back(std::move(obj));
        for (std::size_t k = 0; k <= (n == 0 ? 0 : 2); ++k) e->args.push_back(std::move(part[k]));
        return e;
    }
    // Appends `(args)` to e->args (positional first, then keyword values named in e->keywords).
    void parse_arguments(expr& e) {
        expect_op("(");
        while (!at_op(")")) {
            if (peek().k == token::kind::name && peek(1).k == token::kind::op && peek(1).text == "=") {
                e.keywords.push_back(next().text);
                next();
            } else if (!e.keywords.empty()) {
                fail("a positional argument follows a keyword argument");
            } else if (at_op("*") || at_op("**")) {
                fail("*args / **kwargs in calls are not supported");
            }
            e.args.push_back(parse_expr());
            if (!at_op(",")) break;
            next();
        }
        expect_op(")");
    }
    std::unique_ptr<expr> parse_call(std::unique_ptr<expr> callee) {
        auto e = make(expr::op::call, callee->line);
        e->args.push_back(std::move(callee));
        parse_arguments(*e);
        return e;
    }
    std::unique_ptr<expr> parse_filters(std::unique_ptr<expr> e) {
        for (;;) {
            if (at_op("|")) {
                next();
                auto f = make(expr::op::filter, e->line);
                f->name = expect_name();
                f->args.push_back(std::move(e));
                if (at_op("(")) parse_arguments(*f);
                if (!f->keywords.empty()) fail("keyword arguments to filters are not supported");
                e = std::move(f);
            } else if (at_name("is")) {
                next();
                auto t = make(expr::op::test, e->line);
                if (at_name("not")) {
                    next();
                    t->negated = true;
                }
                // `none`, `true` and `false` are keywords in expressions but test names here.
                t->name = expect_name();
                t->args.push_back(std::move(e));
                e = std::move(t);
            } else {
                return e;
            }
        }
    }
};

}  // namespace vl::text::jinja
