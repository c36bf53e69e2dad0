import Foundation

/// The loss curves of a metrics file as an SVG picture: training loss and validation
/// loss (nats per character) against step, with labelled axes. Plain SVG, no dependency.
public enum LossPlot {
    /// Reads `metrics` (JSON Lines) and writes the picture to `output`.
    public static func write(metrics: String, to output: String) throws {
        guard let text = try? String(contentsOfFile: metrics, encoding: .utf8) else {
            throw RNNDistError.input("\(metrics): metrics file not found or not readable")
        }
        var train: [(Double, Double)] = [], validation: [(Double, Double)] = []
        for (number, line) in text.split(separator: "\n").enumerated() {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let step = (object["step"] as? NSNumber)?.doubleValue else {
                throw RNNDistError.input("\(metrics): line \(number + 1) is not a metrics object")
            }
            if let loss = (object["loss"] as? NSNumber)?.doubleValue { train.append((step, loss)) }
            if let loss = (object["val_loss"] as? NSNumber)?.doubleValue { validation.append((step, loss)) }
        }
        guard !train.isEmpty || !validation.isEmpty else { throw RNNDistError.input("\(metrics): no loss lines to plot") }
        do {
            try Data(svg(train: train, validation: validation, title: (metrics as NSString).lastPathComponent).utf8)
                .write(to: URL(fileURLWithPath: output))
        } catch {
            throw RNNDistError.runtime("\(output): cannot write the plot (\(error.localizedDescription))")
        }
    }

    public static func svg(train: [(Double, Double)], validation: [(Double, Double)], title: String) -> String {
        let (width, height, left, right, top, bottom) = (720.0, 420.0, 70.0, 20.0, 40.0, 50.0)
        let points = train + validation
        let maxStep = max(points.map(\.0).max()!, 1)
        let (lowest, highest) = (points.map(\.1).min()!, points.map(\.1).max()!)
        let margin = max((highest - lowest) * 0.05, 0.01)
        let (lowLoss, highLoss) = (max(0, lowest - margin), highest + margin)
        let x = { (step: Double) in left + step / maxStep * (width - left - right) }
        let y = { (loss: Double) in top + (1 - (loss - lowLoss) / max(highLoss - lowLoss, 1e-9)) * (height - top - bottom) }
        func path(_ series: [(Double, Double)]) -> String {
            series.enumerated().map { i, p in "\(i == 0 ? "M" : "L")\(format(x(p.0), 1)),\(format(y(p.1), 1))" }.joined(separator: " ")
        }
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(Int(width / 2))" y="22" text-anchor="middle" font-size="14">\(title): loss (nats/char) by step</text>

        """
        for i in 0...5 {
            let loss = lowLoss + (highLoss - lowLoss) * Double(i) / 5, step = maxStep * Double(i) / 5
            out += "<line x1=\"\(left)\" x2=\"\(width - right)\" y1=\"\(format(y(loss), 1))\" y2=\"\(format(y(loss), 1))\" stroke=\"#ddd\"/>"
            out += "<text x=\"\(left - 6)\" y=\"\(format(y(loss) + 4, 1))\" text-anchor=\"end\">\(format(loss, 2))</text>\n"
            out += "<text x=\"\(format(x(step), 1))\" y=\"\(height - bottom + 18)\" text-anchor=\"middle\">\(Int(step))</text>\n"
        }
        out += "<line x1=\"\(left)\" x2=\"\(left)\" y1=\"\(top)\" y2=\"\(height - bottom)\" stroke=\"black\"/>"
        out += "<line x1=\"\(left)\" x2=\"\(width - right)\" y1=\"\(height - bottom)\" y2=\"\(height - bottom)\" stroke=\"black\"/>\n"
        out += "<text x=\"\(Int(width / 2))\" y=\"\(Int(height - 12))\" text-anchor=\"middle\">step</text>\n"
        if !train.isEmpty { out += "<path d=\"\(path(train))\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\"/>\n" }
        if !validation.isEmpty {
            out += "<path d=\"\(path(validation))\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\"/>\n"
            for p in validation { out += "<circle cx=\"\(format(x(p.0), 1))\" cy=\"\(format(y(p.1), 1))\" r=\"3\" fill=\"#d62728\"/>\n" }
        }
        out += "<rect x=\"\(width - right - 150)\" y=\"\(top)\" width=\"140\" height=\"44\" fill=\"white\" stroke=\"#999\"/>"
        out += "<line x1=\"\(width - right - 140)\" x2=\"\(width - right - 110)\" y1=\"\(top + 15)\" y2=\"\(top + 15)\" stroke=\"#1f77b4\" stroke-width=\"2\"/>"
        out += "<text x=\"\(width - right - 104)\" y=\"\(top + 19)\">training</text>"
        out += "<line x1=\"\(width - right - 140)\" x2=\"\(width - right - 110)\" y1=\"\(top + 33)\" y2=\"\(top + 33)\" stroke=\"#d62728\" stroke-width=\"2\"/>"
        out += "<text x=\"\(width - right - 104)\" y=\"\(top + 37)\">validation</text>\n</svg>\n"
        return out
    }

    /// Where the trainer puts the picture of a metrics file: beside it, `.svg` for `.jsonl`.
    public static func defaultOutput(for metrics: String) -> String {
        ((metrics as NSString).deletingPathExtension) + ".svg"
    }
}
