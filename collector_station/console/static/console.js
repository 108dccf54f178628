// The bench console: shows what the station says (server-sent events) and
// sends the operator's actions. No state of its own that matters: a reload
// reads everything again from the station.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const TEXTS = JSON.parse($("console-texts").textContent);
  const input = $("producer-input");
  let view = JSON.parse($("initial-view").textContent);
  let selectedSeq = null;
  // A code being entered (pad keys or a reader) is the operator's until sent.
  let typing = false;

  function icon(name) {
    const holder = $("icons").content.querySelector(`[data-icon="${name}"]`);
    return holder ? holder.firstElementChild.cloneNode(true) : document.createElement("span");
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    }
    for (const child of children || []) node.append(child);
    return node;
  }

  function setText(id, text) {
    const node = $(id);
    if (node.textContent !== text) node.textContent = text;
  }

  // -- showing ------------------------------------------------------------
  function showWeight(w) {
    setText("weight", w.kg);
    setText("stable-sign", w.words);
    $("weightbox").dataset.state = w.state;
  }

  function showMessage(m) {
    for (const id of ["message", "tech-message"]) {      // the technician's panel covers the line
      setText(id, m.text);
      $(id).classList.toggle("error", !!m.error);
    }
  }

  function showConfirmation(c, v) {
    const box = $("confirm");
    box.dataset.level = c ? c.level : "none";
    box.classList.toggle("is-replaced", !!(c && c.replaced));
    setText("confirm-title", c ? TEXTS.confirm_title : !v.producer.code ? TEXTS.confirm_idle
      : v.tests.missing.length ? TEXTS.confirm_tests : TEXTS.confirm_waiting);
    setText("confirm-weight-kg", c ? c.weight_kg : "-");
    setText("confirm-liters", c ? c.liters : "-");
    setText("confirm-solids", c ? c.solids : "-");
    setText("confirm-density", c ? c.density_15c : "-");
    setText("confirm-temp", c ? c.temp_c : "-");
    setText("confirm-fat", c ? c.fat : "-");
    box.dataset.number = c ? String(c.number) : "";
    const flags = $("flags");
    flags.replaceChildren(...(c ? c.flags : []).map((f) =>
      el("span", {class: "flag " + f.level, "data-flag": f.code},
         [icon(f.code.includes("water") ? "water" : "warn"), f.words])));
    setText("fat-label", c && c.fat_source ? c.fat_source : TEXTS.fat_label);
  }

  function showTests(tests) {
    for (const name of ["alcohol", "organoleptic"]) {
      const t = tests[name];
      const row = $("test-" + name);
      row.hidden = !t.shown;
      row.classList.toggle("needed", tests.missing.includes(name));
      for (const b of row.querySelectorAll("button")) {
        const mine = (b.dataset.value === "true") ? "pass" : "fail";
        b.setAttribute("aria-pressed", String(t.value === mine));
        b.disabled = !view.producer.code;
      }
    }
  }

  function showLast(last) {
    const box = $("result");
    box.dataset.state = last ? last.state : "none";
    setText("receipt-code", last ? last.receipt_code : "-");
    let verdict = "", words = "";
    if (last) {
      verdict = `${last.verdict}${last.refers_seq ? ` (N.º ${last.refers_seq})` : ""}`;
      words = `N.º ${last.seq} · ${last.producer}${last.name !== "-" ? " " + last.name : ""}`;
      if (last.kind === "delivery" && last.weight_kg !== "-") words += ` · ${last.weight_kg} kg`;
      if (last.state === "accepted") words += ` · ${last.liters} L · ST ${last.solids} %`;
      if (last.reason) words += ` · ${last.reason}`;
    }
    setText("result-verdict", verdict.toUpperCase());
    setText("result-words", words);
  }

  function showTanks(tanks) {
    const box = $("tanks");
    const html = tanks.map((t) => `${t.tank}|${t.state}|${t.temp_c}`).join(";");
    if (box.dataset.shown === html) return;
    box.dataset.shown = html;
    box.replaceChildren(...tanks.map((t) => {
      const tile = el("button", {
        class: "tank", "data-testid": "tank-" + t.tank, "data-state": t.state, title: t.words,
      }, [icon(t.state === "cold" ? "cold" : t.state === "break" ? "warn" : "tank"),
          el("span", {}, [t.tank + " ", el("b", {text: t.temp_c === "-" ? "" : t.temp_c + " °C"}), el("br"), t.words])]);
      tile.addEventListener("click", () => openTank(t));
      return tile;
    }));
  }

  function showRows(rows) {
    const box = $("rows");
    box.replaceChildren(...rows.map((r) => {
      const row = el("button", {class: "row", "data-testid": "delivery-" + r.seq, "data-seq": r.seq,
                                "data-state": r.state, "aria-selected": String(r.seq === selectedSeq)}, [
        el("b", {text: "N.º " + r.seq}), el("span", {text: r.time}),
        el("span", {class: "who", text: `${r.producer} ${r.name}`}),
        el("span", {text: r.liters === "-" ? "" : r.liters + " L"}),
        el("span", {text: r.solids === "-" ? "" : r.solids + " %"}),
        el("span", {class: "st", text: r.words + (r.refers_seq ? ` (N.º ${r.refers_seq})` : "")}),
      ]);
      row.disabled = !r.voidable && r.seq !== selectedSeq;
      row.addEventListener("click", () => selectRow(r));
      return row;
    }));
    const still = rows.find((r) => r.seq === selectedSeq && r.voidable);
    if (selectedSeq !== null && !still) selectRow(null);
  }

  function selectRow(r) {
    selectedSeq = r ? r.seq : null;
    for (const row of $("rows").children) row.setAttribute("aria-selected", String(Number(row.dataset.seq) === selectedSeq));
    $("void").hidden = !r;
    $("void-form").hidden = true;
    $("void-confirm").hidden = true;
    if (r) setText("void-what", TEXTS.void_what.replace("{seq}", r.seq).replace("{producer}", `${r.producer} ${r.name}`));
  }

  let tankOpen = null;
  function openTank(t) {
    tankOpen = t.tank;
    setText("tank-title", `${TEXTS.tank} ${t.tank}`);
    setText("tank-words", `${t.temp_c === "-" ? "" : t.temp_c + " °C · "}${t.words}`);
    $("tank-panel").hidden = false;
  }

  function showShift(s) {
    const box = $("shift");
    if (!s) { box.replaceChildren(el("span", {text: TEXTS.shift_none})); return; }
    box.replaceChildren(
      el("span", {text: TEXTS.shift_name}), el("b", {text: `${s.shift} ${s.date}`}),
      el("span", {text: TEXTS.shift_deliveries}), el("b", {text: String(s.deliveries)}),
      el("span", {text: TEXTS.shift_rejected}), el("b", {text: String(s.rejected)}),
      el("span", {text: TEXTS.shift_liters}), el("b", {text: s.liters + " L"}),
      el("span", {text: TEXTS.shift_solids}), el("b", {text: s.avg_solids === "-" ? "-" : s.avg_solids + " %"}));
  }

  function showTechnician(tech) {
    $("tech-locked").hidden = tech.unlocked;
    $("tech-open").hidden = !tech.unlocked;
    const status = [`${TEXTS.calibrated_at} ${tech.calibrated_at} · ${TEXTS.last_checked_at} ${tech.last_checked_at}`];
    if (tech.check_due) status.push(TEXTS.check_due);
    $("tech-status").replaceChildren(...status.map((line) => el("div", {text: line})));
    $("tech-status").classList.toggle("due", tech.check_due);
    const stepping = !!tech.step;
    $("tech-calibrate").hidden = !tech.bridge || stepping;
    $("tech-step").hidden = !stepping;
    if (stepping) {
      setText("tech-step-words", tech.step === "empty" ? TEXTS.cal_empty
              : TEXTS.cal_weight.replace("{kg}", tech.weight_kg).replace("{n}", tech.step === "first" ? "2" : "3"));
    }
    $("cal-read").disabled = tech.busy;
    if (!$("check-kg").value) $("check-kg").value = tech.test_weight_kg;
  }

  function show(v) {
    // An answer to an action may arrive after a newer state from the event stream.
    if (view && v.revision < view.revision) return;
    view = v;
    showWeight(v.weight);
    showMessage(v.message);
    const link = $("link");
    link.dataset.state = v.link.state;
    link.dataset.outbox = String(v.link.outbox);
    setText("link-words", v.link.words);
    link.title = v.instruments.map((i) => i.words).join(" · ");
    $("instruments").replaceChildren(...v.instruments.map((i) =>
      el("div", {class: "instrument", "data-state": i.state, "data-device": i.device},
         [icon(i.state === "ok" ? "check" : "warn"), i.words])));
    if (!typing && document.activeElement !== input) {
      // The station's producer is the truth, except for a code being typed.
      input.value = v.producer.code || "";
    }
    setText("producer-name", v.producer.code ? `${v.producer.code} · ${v.producer.name}` : v.producer.name);
    showConfirmation(v.confirmation, v);
    showTests(v.tests);
    $("accept").disabled = !v.can_accept;
    $("reject").disabled = !v.can_reject;
    showLast(v.last);
    showTanks(v.tanks);
    showRows(v.recent);
    showShift(v.shift);
    showTechnician(v.technician);
    const reasons = $("reasons");
    if (!reasons.children.length) {
      reasons.replaceChildren(...v.reject_reasons.map((r) => {
        const b = el("button", {"data-testid": "reject-reason-" + r.code, text: r.words});
        b.addEventListener("click", () => decide(false, r.code));
        return b;
      }));
    }
    if (!v.can_reject) $("reject-panel").hidden = true;
  }

  // -- acting ---------------------------------------------------------------
  async function send(path, body) {
    try {
      const res = await fetch("/api/" + path, {
        method: "POST", headers: {"Content-Type": "application/json", "X-Console": "1"},
        body: JSON.stringify(body || {}),
      });
      const answer = await res.json();
      if (answer.view) show(answer.view);
      return answer;
    } catch (err) {
      showMessage({text: TEXTS.no_station, error: true});
      return {ok: false};
    }
  }

  function submitProducer() {
    const code = input.value.trim();
    typing = false;
    delete input.dataset.wedge;
    if (!code) return;
    input.blur();
    send("producer", {code});
  }

  function decide(accept, reason) {
    $("reject-panel").hidden = true;
    const number = $("confirm").dataset.number;
    send("decide", {accept, reason: reason || null,
                    confirmation: number ? Number(number) : null});
  }

  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); submitProducer(); }
  });
  // A keyboard-wedge RFID or barcode reader types the code and Enter while
  // no field has focus: those keys go to the producer field.
  document.addEventListener("keydown", (e) => {
    const a = document.activeElement;
    if (a && (a.tagName === "INPUT" || a.tagName === "TEXTAREA")) return;
    if (e.ctrlKey || e.altKey || e.metaKey) return;
    if (e.key === "Enter") {
      if (input.value.trim()) { e.preventDefault(); submitProducer(); }
      return;
    }
    if (e.key.length === 1 && /[A-Za-z0-9_-]/.test(e.key)) {
      e.preventDefault();
      if (!input.dataset.wedge) input.value = "";
      input.dataset.wedge = "1";
      typing = true;
      input.value += e.key;
      clearTimeout(input.wedgeTimer);
      input.wedgeTimer = setTimeout(() => { delete input.dataset.wedge; }, 1500);
    }
  });
  $("pad").addEventListener("click", (e) => {
    const key = e.target.closest("button");
    if (!key) return;
    const k = key.dataset.key;
    if (k === "ok") { submitProducer(); return; }
    if (!typing) input.value = "";          // a new code, not digits after the last producer's
    typing = true;
    if (k === "del") input.value = input.value.slice(0, -1);
    else input.value += k;
  });
  for (const b of document.querySelectorAll("#tests button")) {
    b.addEventListener("click", () => send("test", {test: b.dataset.test, value: b.dataset.value === "true"}));
  }
  $("accept").addEventListener("click", () => decide(true));
  $("reject").addEventListener("click", () => { $("reject-panel").hidden = false; });
  $("tare").addEventListener("click", () => send("tare"));
  $("open-deliveries").addEventListener("click", () => { selectRow(null); $("deliveries-panel").hidden = false; });
  $("open-shift").addEventListener("click", () => { $("shift-panel").hidden = false; });
  $("reprint").addEventListener("click", () => send("reprint"));
  for (const [id, event] of [["tank-emptied", "emptied"], ["tank-milk-added", "milk_added"]]) {
    $(id).addEventListener("click", () => {
      $("tank-panel").hidden = true;
      send("tank", {tank: tankOpen, event});
    });
  }
  $("close-shift").addEventListener("click", () => send("close-shift"));
  for (const b of document.querySelectorAll("[data-close]")) {
    b.addEventListener("click", () => { $(b.dataset.close).hidden = true; selectRow(null); });
  }
  $("void").addEventListener("click", () => {
    $("void-form").hidden = false;
    $("void").hidden = true;
    $("void-confirm").hidden = false;
    $("supervisor-pin").value = "";
    $("reason").value = "";
  });
  for (const chip of document.querySelectorAll("#reason-chips button")) {
    chip.addEventListener("click", () => { $("reason").value = chip.dataset.reason; });
  }
  $("pinpad").addEventListener("click", (e) => {
    const key = e.target.closest("button");
    if (!key) return;
    const pin = $("supervisor-pin");
    pin.value = key.dataset.pin === "del" ? pin.value.slice(0, -1) : pin.value + key.dataset.pin;
  });
  $("void-confirm").addEventListener("click", async () => {
    const answer = await send("void", {seq: selectedSeq, pin: $("supervisor-pin").value,
                                       reason: $("reason").value});
    $("supervisor-pin").value = "";
    if (answer.ok) { $("deliveries-panel").hidden = true; selectRow(null); }
  });

  // The technician's screen: its own pad types into the field last touched.
  let techField = $("technician-pin");
  for (const id of ["technician-pin", "cal-first-kg", "cal-second-kg", "check-kg"]) {
    $(id).addEventListener("focus", () => { techField = $(id); });
  }
  $("tech-pad").addEventListener("click", (e) => {
    const key = e.target.closest("button");
    if (!key) return;
    const k = key.dataset.techkey;
    techField.value = k === "del" ? techField.value.slice(0, -1) : techField.value + k;
  });
  const tech = (body) => send("technician", body);
  $("open-technician").addEventListener("click", () => {
    $("shift-panel").hidden = true;
    $("technician-panel").hidden = false;
    techField = $("technician-pin");
  });
  $("technician-unlock").addEventListener("click", async () => {
    await tech({act: "unlock", pin: $("technician-pin").value});
    $("technician-pin").value = "";
  });
  $("cal-start").addEventListener("click", () =>
    tech({act: "start", first_kg: $("cal-first-kg").value, second_kg: $("cal-second-kg").value}));
  $("cal-read").addEventListener("click", () => tech({act: "read"}));
  $("cal-cancel").addEventListener("click", () => tech({act: "cancel"}));
  $("check-start").addEventListener("click", () => tech({act: "check", test_kg: $("check-kg").value}));
  $("technician-close").addEventListener("click", () => {
    $("technician-panel").hidden = true;
    tech({act: "lock"});
  });

  // -- listening ------------------------------------------------------------
  function listen() {
    const events = new EventSource("/events");
    events.addEventListener("state", (e) => show(JSON.parse(e.data)));
    events.addEventListener("weight", (e) => showWeight(JSON.parse(e.data)));
    events.onerror = () => showMessage({text: TEXTS.reconnecting, error: true});
  }
  const first = view;
  view = null;
  show(first);
  listen();
})();
