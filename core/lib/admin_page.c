/* admin_page.c: GET / of the admin endpoint: one self-contained HTML page
 * (inline CSS and JavaScript, no external assets) that polls /status every
 * 2 s and shows every pipeline with its state and health colour, records/s
 * with a small inline SVG chart of the last minutes, backlog, last commit
 * age, DLQ counts by reason and the last error. */
#include "config.h"

#include "admin.h"

static const char page[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<title>sluice status</title>\n"
    "<style>\n"
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}\n"
    "h1{font-size:1.3em;margin:0 0 .2em}#meta{color:#666;margin-bottom:1em}\n"
    "table{border-collapse:collapse;width:100%;background:#fff}\n"
    "th,td{border-bottom:1px solid #ddd;padding:.4em .6em;text-align:left;vertical-align:top}\n"
    "th{background:#eee;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    ".dot{display:inline-block;width:.8em;height:.8em;border-radius:50%;margin-right:.4em}\n"
    ".ok{background:#2a2}.bad{background:#d22}.warn{background:#e90}\n"
    ".why{color:#b00;font-size:.9em}.err{color:#844;font-size:.85em;max-width:30em}\n"
    "svg{background:#f4f8ff;border:1px solid #ccd}\n"
    "</style></head><body>\n"
    "<h1>sluice</h1><div id=\"meta\">loading&hellip;</div>\n"
    "<table><thead><tr><th>pipeline</th><th>state</th><th>records/s</th><th>last minutes</th>"
    "<th>in</th><th>out</th><th>backlog</th><th>last commit</th><th>DLQ by reason</th>"
    "<th>restarts</th><th>last error</th></tr></thead><tbody id=\"rows\"></tbody></table>\n"
    "<script>\n"
    "'use strict';\n"
    "function esc(s){return String(s==null?'':s).replace(/[&<>\"]/g,function(c){"
    "return {'&':'&amp;','<':'&lt;','>':'&gt;','\"':'&quot;'}[c];});}\n"
    "function age(t,now){if(!t)return 'never';var s=Math.max(0,now-t);"
    "if(s<120)return Math.round(s)+' s ago';if(s<7200)return Math.round(s/60)+' min ago';"
    "return Math.round(s/3600)+' h ago';}\n"
    "function chart(v){var w=120,h=28,n=v?v.length:0;if(n<2)return '<svg width=\"'+w+'\" "
    "height=\"'+h+'\"></svg>';var m=Math.max.apply(null,v.concat([1]));var pts=v.map("
    "function(x,i){return (i*(w-2)/(n-1)+1).toFixed(1)+','+(h-1-x/m*(h-2)).toFixed(1);})"
    ".join(' ');return '<svg width=\"'+w+'\" height=\"'+h+'\" viewBox=\"0 0 '+w+' '+h+'\">"
    "<polyline fill=\"none\" stroke=\"#36c\" stroke-width=\"1.5\" points=\"'+pts+'\"/></svg>';}\n"
    "function dlq(d){var out=[];var b=(d&&d.by_stage)||{};Object.keys(b).forEach(function(s){"
    "Object.keys(b[s]||{}).forEach(function(r){if(b[s][r]>0)out.push(esc(s)+' '+esc(r)+': '+"
    "b[s][r]);});});return (out.join('<br>')||'0')+(d&&d.at_start?'<br><small>'+d.at_start+"
    "' before start</small>':'');}\n"
    "function row(p,now){var h=p.health||{};var ok=h.ok;var cls=ok?(p.state=='running'?'ok':"
    "'warn'):'bad';var why=(h.reasons||[]).map(function(r){return '<div class=\"why\">'+"
    "esc(r.message)+'</div>';}).join('');var e=p.last_error?esc(p.last_error.where+': '+"
    "p.last_error.message)+' <small>('+age(p.last_error.at,now)+')</small>':'';"
    "if(p.error)e='<div>'+esc(p.error)+'</div>'+e;"
    "return '<tr><td><b>'+esc(p.name)+'</b></td><td><span class=\"dot '+cls+'\"></span>'+"
    "esc(p.state)+why+'</td><td class=\"num\">'+(p.records_per_second||0).toFixed(1)+"
    "'</td><td>'+chart(p.rate_chart)+'</td><td class=\"num\">'+Math.round(p.records_in||0)+"
    "'</td><td class=\"num\">'+Math.round(p.records_out||0)+'</td><td class=\"num\">'+"
    "Math.round(p.backlog_batches||0)+' batches</td><td>'+age(p.last_commit,now)+"
    "'</td><td>'+dlq(p.dlq)+'</td><td class=\"num\">'+Math.round(p.restarts||0)+"
    "'</td><td class=\"err\">'+e+'</td></tr>';}\n"
    "function refresh(){fetch('status',{cache:'no-store'}).then(function(r){return r.json();})"
    ".then(function(m){var now=m.generated;var ps=m.pipelines||[];"
    "document.getElementById('rows').innerHTML=ps.map(function(p){return row(p,now);}).join('');"
    "var bad=ps.filter(function(p){return !(p.health&&p.health.ok);}).length;"
    "document.getElementById('meta').textContent=ps.length+' pipeline(s), '+(bad?bad+"
    "' unhealthy':'all healthy')+' \\u2014 updated '+new Date(now*1000).toLocaleTimeString();"
    "}).catch(function(e){document.getElementById('meta').textContent='cannot read /status: '+e;"
    "});}\n"
    "refresh();setInterval(refresh,2000);\n"
    "</script></body></html>\n";

const char *sluice_admin_page(void)
{
    return page;
}
