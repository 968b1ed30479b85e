import t from 'tap';
import { Format, Presets } from 'cli-progress';
import { barOptions } from '../../cli/progress';
import { withFlagNames } from '../../cli/hints';

t.test('progress: the bar format fills every placeholder and shows the ETA', async (t) => {
  const options = { ...Presets.shades_classic, ...barOptions('fusing', 'tiles'), barsize: 10, barCompleteString: '#'.repeat(10), barIncompleteString: '-'.repeat(10), autopaddingChar: ' ' };
  const line = Format.Formatter(options, { progress: 0.5, eta: 12, startTime: Date.now(), stopTime: null, total: 8, value: 4, maxWidth: 120 }, {});
  t.notMatch(line, /\{\w+\}/, 'no literal placeholder such as {eta_buffer}');
  t.match(line, /^fusing \[.*\] 4\/8 tiles \| ETA \d+s$/);
});

t.test('hints: SDK option names become CLI flags', async (t) => {
  t.equal(withFlagNames('set lrhsi.meta.valueScale to the raw full scale'), 'set --value-scale to the raw full scale');
  t.equal(withFlagNames('Expected options.tile to give tiles'), 'Expected --tile to give tiles');
  t.match(withFlagNames("differ from the model's band grid; pass { resample: true } to resample onto it"), /pass --resample/);
});
