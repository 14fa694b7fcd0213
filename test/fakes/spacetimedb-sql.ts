/**
 * Tokenizer and parser for the SQL that SpacetimeDB's HTTP `/sql` endpoint accepts for reads
 * (crates/sql-parser/src/parser/sql.rs): one `SELECT projection FROM table [[AS] alias]
 * [WHERE predicate] [LIMIT n]` statement, predicates of comparisons joined by AND/OR with
 * parentheses, literals INTEGER | FLOAT | STRING | TRUE | FALSE. What the real parser rejects
 * (NOT, LIKE, IN, IS NULL, ORDER BY, OFFSET, DISTINCT, COUNT without alias, several statements)
 * is rejected here with the real wording. DML and joins are out of the fake's scope.
 */

export class SqlError extends Error {}

type Token =
  | { t: 'word'; text: string; quoted: boolean }
  | { t: 'str'; value: string }
  | { t: 'num'; text: string }
  | { t: 'hex'; text: string }
  | { t: 'op'; text: string };

export type CmpOp = '=' | '<>' | '<' | '>' | '<=' | '>=';
export interface ColRef {
  kind: 'col';
  table: string | null;
  name: string;
}
export type Literal = { kind: 'lit'; lit: 'str'; value: string } | { kind: 'lit'; lit: 'num'; text: string } | { kind: 'lit'; lit: 'bool'; value: boolean };
export type Expr = ColRef | Literal | { kind: 'cmp'; op: CmpOp; left: Expr; right: Expr } | { kind: 'logic'; op: 'AND' | 'OR'; left: Expr; right: Expr };
export type Projection = { kind: 'star' } | { kind: 'count'; alias: string } | { kind: 'cols'; items: { col: ColRef; alias: string }[] };
export interface Select {
  projection: Projection;
  table: string;
  alias: string;
  where: Expr | null;
  limit: number | null;
}

const KEYWORDS = new Set(
  'SELECT FROM WHERE AND OR NOT AS LIMIT OFFSET ORDER BY GROUP HAVING JOIN INNER LEFT RIGHT ON DISTINCT LIKE IN IS BETWEEN TRUE FALSE NULL INSERT UPDATE DELETE SET SHOW UNION'.split(' '),
);
const OPERATORS = ['<=', '>=', '<>', '!=', '=', '<', '>', '(', ')', ',', '*', '.', ';', '+', '-'];

export function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (sql.startsWith('--', i)) {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? sql.length : nl + 1;
    } else if (sql.startsWith('/*', i)) {
      const end = sql.indexOf('*/', i + 2);
      if (end < 0) throw new SqlError('sql parser error: Unexpected EOF while in a multi-line comment');
      i = end + 2;
    } else if (c === "'" || c === '"') {
      const [value, next] = quoted(sql, i, c);
      out.push(c === "'" ? { t: 'str', value } : { t: 'word', text: value, quoted: true });
      i = next;
    } else if (/[xX]/.test(c) && sql[i + 1] === "'") {
      const [value, next] = quoted(sql, i + 1, "'");
      out.push({ t: 'hex', text: value });
      i = next;
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(sql[i + 1] ?? ''))) {
      const m = /^(0x[0-9a-fA-F]*|\d*\.?\d+(?:[eE][+-]?\d+)?)/.exec(sql.slice(i));
      const text = m?.[0] ?? c;
      out.push(text.startsWith('0x') ? { t: 'hex', text: text.slice(2) } : { t: 'num', text });
      i += text.length;
    } else if (/[A-Za-z_]/.test(c)) {
      const text = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i))?.[0] ?? c;
      out.push({ t: 'word', text, quoted: false });
      i += text.length;
    } else {
      const op = OPERATORS.find((o) => sql.startsWith(o, i));
      if (!op) throw new SqlError(`sql parser error: Unexpected character '${c}'`);
      out.push({ t: 'op', text: op === '!=' ? '<>' : op });
      i += op.length;
    }
  }
  return out;
}

/** A quoted run where the quote character is escaped by doubling it. */
function quoted(sql: string, start: number, q: string): [string, number] {
  let value = '';
  let i = start + 1;
  for (;;) {
    const end = sql.indexOf(q, i);
    if (end < 0) throw new SqlError(q === "'" ? 'sql parser error: Unterminated string literal' : 'sql parser error: Unterminated delimited identifier');
    value += sql.slice(i, end);
    if (sql[end + 1] === q) {
      value += q;
      i = end + 2;
    } else {
      return [value, end + 1];
    }
  }
}

class Parser {
  private i = 0;
  constructor(private readonly toks: Token[]) {}

  private peek(offset = 0): Token | undefined {
    return this.toks[this.i + offset];
  }
  private isKw(kw: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t?.t === 'word' && !t.quoted && t.text.toUpperCase() === kw;
  }
  private isOp(op: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t?.t === 'op' && t.text === op;
  }
  /** An unquoted word that is not a keyword at `offset` (an alias candidate). */
  private isPlainWord(offset = 0): boolean {
    const t = this.peek(offset);
    return t?.t === 'word' && (t.quoted || !KEYWORDS.has(t.text.toUpperCase()));
  }
  private keywordText(): string {
    const t = this.peek();
    return t?.t === 'word' ? t.text.toUpperCase() : describe(t);
  }
  private expectOp(op: string): void {
    if (!this.isOp(op)) throw new SqlError(`sql parser error: Expected ${op}, found: ${describe(this.peek())}`);
    this.i++;
  }
  private ident(what: string): string {
    const t = this.peek();
    if (t?.t !== 'word' || (!t.quoted && KEYWORDS.has(t.text.toUpperCase()))) throw new SqlError(`sql parser error: Expected ${what}, found: ${describe(t)}`);
    this.i++;
    return t.text;
  }

  statement(): Select {
    if (this.toks.length === 0 || (this.toks.length === 1 && this.isOp(';'))) throw new SqlError('Empty SQL query');
    if (!this.isKw('SELECT')) throw new SqlError(`Unsupported: ${this.keywordText()} statements are not supported by the fake SpacetimeDB (nor used by the sidecar)`);
    this.i++;
    if (this.isKw('DISTINCT')) throw new SqlError('Unsupported: SELECT DISTINCT');
    const projection = this.projection();
    if (!this.isKw('FROM')) throw new SqlError('A FROM clause is required');
    this.i++;
    const table = this.ident('a table name');
    let alias = table;
    if (this.isKw('AS')) {
      this.i++;
      alias = this.ident('an alias');
    } else if (this.isPlainWord()) {
      alias = this.ident('an alias');
    }
    if (this.isOp(',')) throw new SqlError('Implicit joins are not supported');
    if (this.isKw('JOIN') || this.isKw('INNER')) throw new SqlError('Unsupported: JOIN is not supported by the fake SpacetimeDB (nor used by the sidecar)');
    let where: Expr | null = null;
    if (this.isKw('WHERE')) {
      this.i++;
      where = this.or();
    }
    if (this.isKw('GROUP') || this.isKw('ORDER') || this.isKw('HAVING') || this.isKw('OFFSET') || this.isKw('UNION')) {
      throw new SqlError(`Unsupported: ${this.keywordText()} clause`);
    }
    let limit: number | null = null;
    if (this.isKw('LIMIT')) {
      this.i++;
      const t = this.peek();
      if (t?.t !== 'num' || !/^\d+$/.test(t.text)) throw new SqlError(`Unsupported LIMIT expression: ${describe(t)}`);
      limit = Number(t.text);
      this.i++;
      if (this.isKw('OFFSET')) throw new SqlError('Unsupported: OFFSET clause');
    }
    if (this.isOp(';')) this.i++;
    if (this.peek()) {
      if (this.toks.slice(0, this.i).some((t) => t.t === 'op' && t.text === ';')) throw new SqlError('Multiple SQL statements are not supported');
      throw new SqlError(`sql parser error: Expected end of statement, found: ${describe(this.peek())}`);
    }
    return { projection, table, alias, where, limit };
  }

  private projection(): Projection {
    if (this.isOp('*')) {
      this.i++;
      if (this.isOp(',')) throw new SqlError('Mixed wildcard projections are not supported');
      return { kind: 'star' };
    }
    if (this.isOp('(', 1)) return this.aggregate();
    const items: { col: ColRef; alias: string }[] = [];
    for (;;) {
      if (this.isPlainWord() && this.isOp('.', 1) && this.isOp('*', 2)) {
        if (items.length > 0 || this.isOp(',', 3)) throw new SqlError('Mixed wildcard projections are not supported');
        this.i += 3;
        return { kind: 'star' };
      }
      const col = this.colRef();
      let alias = col.name;
      if (this.isKw('AS')) {
        this.i++;
        alias = this.ident('an alias');
      } else if (this.isPlainWord()) {
        alias = this.ident('an alias');
      }
      items.push({ col, alias });
      if (!this.isOp(',')) return { kind: 'cols', items };
      this.i++;
      if (this.isOp('*')) throw new SqlError('Mixed wildcard projections are not supported');
    }
  }

  private aggregate(): Projection {
    const fn = this.ident('a function name');
    this.expectOp('(');
    const star = this.isOp('*');
    if (fn.toUpperCase() !== 'COUNT' || !star) throw new SqlError(`Unsupported aggregate function: ${fn}(...)`);
    this.i++;
    this.expectOp(')');
    if (this.isKw('AS')) this.i++;
    else if (this.isKw('FROM')) throw new SqlError('Aggregate expressions must have column aliases');
    const alias = this.ident('an alias');
    if (this.isOp(',')) throw new SqlError('Unsupported: several aggregates are not supported by the fake SpacetimeDB (nor used by the sidecar)');
    return { kind: 'count', alias };
  }

  private colRef(): ColRef {
    const first = this.ident('a column name');
    if (this.isOp('.')) {
      this.i++;
      return { kind: 'col', table: first, name: this.ident('a column name') };
    }
    return { kind: 'col', table: null, name: first };
  }

  private or(): Expr {
    let left = this.and();
    while (this.isKw('OR')) {
      this.i++;
      left = { kind: 'logic', op: 'OR', left, right: this.and() };
    }
    return left;
  }

  private and(): Expr {
    let left = this.comparison();
    while (this.isKw('AND')) {
      this.i++;
      left = { kind: 'logic', op: 'AND', left, right: this.comparison() };
    }
    return left;
  }

  private comparison(): Expr {
    const left = this.primary();
    const t = this.peek();
    if (t?.t === 'op' && ['=', '<>', '<', '>', '<=', '>='].includes(t.text)) {
      this.i++;
      return { kind: 'cmp', op: t.text as CmpOp, left, right: this.primary() };
    }
    for (const kw of ['LIKE', 'IN', 'IS', 'BETWEEN', 'NOT']) {
      if (this.isKw(kw)) throw new SqlError(`Unsupported expression: ${kw}`);
    }
    return left;
  }

  private primary(): Expr {
    const t = this.peek();
    if (!t) throw new SqlError('sql parser error: Expected an expression, found: EOF');
    if (t.t === 'op' && t.text === '(') {
      this.i++;
      const inner = this.or();
      this.expectOp(')');
      return inner;
    }
    if (t.t === 'op' && (t.text === '-' || t.text === '+')) {
      const n = this.peek(1);
      if (n?.t !== 'num') throw new SqlError(`Unsupported expression: ${t.text}`);
      this.i += 2;
      return { kind: 'lit', lit: 'num', text: t.text === '-' ? `-${n.text}` : n.text };
    }
    if (t.t === 'str') {
      this.i++;
      return { kind: 'lit', lit: 'str', value: t.value };
    }
    if (t.t === 'num') {
      this.i++;
      return { kind: 'lit', lit: 'num', text: t.text };
    }
    if (t.t === 'hex') throw new SqlError('Unsupported: hex literals are not supported by the fake SpacetimeDB (nor used by the sidecar)');
    if (this.isKw('TRUE') || this.isKw('FALSE')) {
      this.i++;
      return { kind: 'lit', lit: 'bool', value: t.t === 'word' && t.text.toUpperCase() === 'TRUE' };
    }
    if (this.isKw('NULL')) throw new SqlError('Unsupported literal expression: NULL');
    if (this.isKw('NOT')) throw new SqlError('Unsupported expression: NOT');
    if (t.t === 'word' && this.isOp('(', 1)) throw new SqlError(`Unsupported expression: ${t.text}(...)`);
    return this.colRef();
  }
}

function describe(t: Token | undefined): string {
  if (!t) return 'EOF';
  if (t.t === 'str') return `'${t.value}'`;
  return t.t === 'hex' ? `X'${t.text}'` : t.text;
}

export function parseSelect(sql: string): Select {
  return new Parser(tokenize(sql)).statement();
}
