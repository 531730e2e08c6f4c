// Layout checks run inside headless Chromium by tests/test_report_browser.py (and nowhere
// else: the shipped report has no script). On load it measures the page with the DOM and
// writes the findings as JSON into a pre element (id iop-result) that `--dump-dom` prints.
//
// - scrollWidth / innerWidth: the page itself must not scroll sideways.
// - cut: text line boxes (Range.getClientRects of every visible text node) that reach past the
//   viewport's edge outside any sideways-scrolling box, or scrolling boxes that do.
// - overlaps: pairs of text line boxes from different text nodes that intersect by more than
//   1 px in both directions (a sweep over boxes sorted by top); boxes in different scroll
//   boxes are not compared (they scroll independently).
// - figures: each report figure decoded (naturalWidth > 0), drawn with a positive size,
//   visible, and inside the viewport horizontally.
// - wide: tables wider than their scroll box (they scroll inside it).
window.addEventListener('load', () => {
  const W = window.innerWidth, tol = 1;
  const r = {innerWidth: W, scrollWidth: document.documentElement.scrollWidth};
  const scroller = (el) => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if (o === 'auto' || o === 'scroll') return a;
    }
    return null;
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const boxes = [], cut = [];
  let node = 0;
  while (walker.nextNode()) {
    const t = walker.currentNode;
    if (!t.data.trim()) continue;
    const el = t.parentElement;
    if (el.closest('script, #iop-result')) continue;
    const st = getComputedStyle(el);
    if (st.visibility !== 'visible' || st.display === 'none') continue;
    node += 1;
    const rg = document.createRange();
    rg.selectNodeContents(t);
    const sc = scroller(el);
    const text = t.data.trim().slice(0, 50);
    for (const b of rg.getClientRects()) {
      if (b.width < 0.5 || b.height < 0.5) continue;
      boxes.push({l: b.left + scrollX, t: b.top + scrollY, r: b.right + scrollX,
                  b: b.bottom + scrollY, text, node, sc});
      const edge = sc ? sc.getBoundingClientRect() : b;
      if (edge.right > W + tol || edge.left < -tol) cut.push({text, right: edge.right});
    }
  }
  r.textBoxes = boxes.length;
  r.cut = cut.slice(0, 20);
  r.nCut = cut.length;
  boxes.sort((a, c) => a.t - c.t);
  const ov = [];
  for (let i = 0; i < boxes.length; i++) {
    const a = boxes[i];
    for (let j = i + 1; j < boxes.length && boxes[j].t < a.b - tol; j++) {
      const c = boxes[j];
      if (a.node === c.node || a.sc !== c.sc) continue;
      const w = Math.min(a.r, c.r) - Math.max(a.l, c.l);
      const h = Math.min(a.b, c.b) - Math.max(a.t, c.t);
      if (w > tol && h > tol) ov.push([a.text, c.text, Math.round(w), Math.round(h)]);
    }
  }
  r.overlaps = ov.slice(0, 20);
  r.nOverlaps = ov.length;
  r.figures = [...document.querySelectorAll('img.report-figure')].map((i) => {
    const b = i.getBoundingClientRect(), st = getComputedStyle(i);
    return {alt: i.alt.slice(0, 60), decoded: i.complete && i.naturalWidth > 0,
            width: b.width, height: b.height, left: b.left, right: b.right,
            visible: st.visibility === 'visible' && st.display !== 'none' && +st.opacity > 0};
  });
  r.tables = document.querySelectorAll('table').length;
  r.wide = [...document.querySelectorAll('table')].filter((t) => {
    const s = scroller(t);
    return s && s.scrollWidth > s.clientWidth + tol;
  }).map((t) => (t.closest('[id]') || t).id);
  const pre = document.createElement('pre');
  pre.id = 'iop-result';
  pre.textContent = JSON.stringify(r);
  document.body.appendChild(pre);
});
