// Tiny SVG charts for the dashboard: a donut, horizontal bars and stacked day bars. Each chart is
// an image with a summary as its name; the numbers are also shown as text or a table next to it.

export interface Segment {
  label: string;
  value: number;
  color: string;
}

export function Donut(props: { segments: Segment[]; label: string; center?: string; testid?: string }) {
  const total = props.segments.reduce((s, x) => s + x.value, 0);
  const r = 15.9155; // circumference 100: stroke-dasharray works in percent
  let offset = 25; // start at 12 o'clock
  return (
    <svg viewBox="0 0 42 42" class="donut" role="img" aria-label={props.label} data-testid={props.testid}>
      <circle cx="21" cy="21" r={r} fill="none" stroke="var(--border)" stroke-width="6" />
      {total > 0 &&
        props.segments
          .filter((s) => s.value > 0)
          .map((s) => {
            const share = (s.value / total) * 100;
            const el = (
              <circle
                cx="21"
                cy="21"
                r={r}
                fill="none"
                stroke={s.color}
                stroke-width="6"
                stroke-dasharray={`${share} ${100 - share}`}
                stroke-dashoffset={offset}
              />
            );
            offset -= share;
            return el;
          })}
      {props.center !== undefined && (
        <text x="21" y="23.5" text-anchor="middle" class="donut-center" aria-hidden="true">
          {props.center}
        </text>
      )}
    </svg>
  );
}

// One horizontal bar per entry, with its number after it (the number is the text alternative).
export function Bars(props: { segments: Segment[]; testid?: string }) {
  const max = Math.max(1, ...props.segments.map((s) => s.value));
  return (
    <dl class="hbars" data-testid={props.testid}>
      {props.segments.map((s) => (
        <div class="bar-row">
          <dt>{s.label}</dt>
          <dd>
            <svg viewBox="0 0 100 6" preserveAspectRatio="none" aria-hidden="true" class="hbar">
              <rect x="0" y="0" width={(s.value / max) * 100} height="6" fill={s.color} />
            </svg>
            <span class="bar-value">{s.value}</span>
          </dd>
        </div>
      ))}
    </dl>
  );
}

export interface Stack {
  label: string; // x axis (a short date)
  parts: number[]; // one value per series
}

// Vertical stacked bars (calls per day: answered below, missed above).
export function StackedBars(props: { stacks: Stack[]; series: { label: string; color: string }[]; label: string; testid?: string }) {
  const max = Math.max(1, ...props.stacks.map((s) => s.parts.reduce((a, b) => a + b, 0)));
  const w = 20;
  const h = 80;
  const width = props.stacks.length * w;
  return (
    <svg viewBox={`0 0 ${width} ${h + 10}`} class="stacked" role="img" aria-label={props.label} data-testid={props.testid}>
      {props.stacks.map((s, i) => {
        let y = h;
        return (
          <g>
            {s.parts.map((v, k) => {
              const bh = (v / max) * h;
              y -= bh;
              return <rect x={i * w + 3} y={y} width={w - 6} height={bh} fill={props.series[k].color} />;
            })}
            {(
              <text x={i * w + w / 2} y={h + 8} text-anchor="middle" class="axis" aria-hidden="true">
                {s.label}
              </text>
            )}
          </g>
        );
      })}
    </svg>
  );
}
