// Zeek's conn.log in its TSV form, for the examples that write one: the
// header (with #fields and #types), a row per connection, the #close line.
// Rows are tcpsensor's conn.log rows (ConnLog, tcpsensor --format conn).

// The conn.log columns that tcpsensor's rows carry, with Zeek's types.
const FIELDS = [
  ['ts', 'time'], ['uid', 'string'], ['id.orig_h', 'addr'], ['id.orig_p', 'port'], ['id.resp_h', 'addr'], ['id.resp_p', 'port'],
  ['proto', 'enum'], ['duration', 'interval'], ['orig_bytes', 'count'], ['resp_bytes', 'count'], ['conn_state', 'string'],
  ['missed_bytes', 'count'], ['history', 'string'], ['orig_pkts', 'count'], ['orig_ip_bytes', 'count'], ['resp_pkts', 'count'],
  ['resp_ip_bytes', 'count'],
];

// #open and #close as Zeek writes them (local time): 2026-12-06-03-05-38.
function zeekTime(d = new Date()) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}-${p(d.getHours())}-${p(d.getMinutes())}-${p(d.getSeconds())}`;
}

export function tsvHeader() {
  return [
    '#separator \\x09',
    '#set_separator\t,',
    '#empty_field\t(empty)',
    '#unset_field\t-',
    '#path\tconn',
    `#open\t${zeekTime()}`,
    `#fields\t${FIELDS.map(([f]) => f).join('\t')}`,
    `#types\t${FIELDS.map(([, t]) => t).join('\t')}`,
  ].join('\n') + '\n';
}

// Zeek writes times and intervals with microseconds, and '-' for a field
// it has no value for.
export function tsvRow(row) {
  return FIELDS.map(([f, type]) => {
    const v = row[f];
    if (v === undefined) return '-';
    return type === 'time' || type === 'interval' ? v.toFixed(6) : String(v);
  }).join('\t') + '\n';
}

export function tsvFooter() {
  return `#close\t${zeekTime()}\n`;
}
